export type { AuthorizationDetail, Manifest, TaskInfo } from './types.js'
export { canonicalize } from './canonicalize.js'
export { MAX_DURATION_SECONDS, parseDuration } from './duration.js'
export { manifestSha256 } from './manifest-hash.js'
export { parseAuthorizationDetails } from './parse-authorization-details.js'
export { parseManifest, parseManifestObject } from './parse-manifest.js'
export { parseTask } from './parse-task.js'
export { MAX_RESOURCES, parseResourceIndicators } from './parse-resource-indicators.js'
export type { ParseManifestOptions } from './parse-manifest.js'
export { YamlSyntaxError, parseSafeYaml } from './parse-safe-yaml.js'
export {
  DEFAULT_MAX_GRANTS,
  authorizationDetailSchema,
  authorizationDetailsSchema,
  manifestSchema,
  taskSchema,
} from './schema.js'
