import { WritError, invalidRequest } from '../errors.js'
import { formatIssues, friendlyErrors } from '../validation.js'
import { describeJsonSyntaxError } from './describe-json-syntax-error.js'
import { findJsonProblems } from './json-problems.js'
import { joinProblems } from './join-problems.js'
import { YamlSyntaxError, parseSafeYaml } from './parse-safe-yaml.js'
import { parseResourceIndicators } from './parse-resource-indicators.js'
import { DEFAULT_MAX_GRANTS, manifestSchema } from './schema.js'
import type { Manifest } from './types.js'

export interface ParseManifestOptions {
  /** The request's Content-Type (parameters such as `charset` are ignored). */
  contentType?: string
  /** Most grants one manifest may carry. Default 50. */
  maxGrants?: number
}

const YAML_TYPES = new Set(['application/yaml', 'text/yaml', 'application/x-yaml', 'text/x-yaml'])

/**
 * Parses and validates a task manifest sent as JSON or YAML.
 *
 * The format comes from the content type: JSON for `application/json` (and `+json` types), YAML
 * for `application/yaml`, `text/yaml` and `application/x-yaml`. Without a content type, text that
 * starts with `{` is JSON and anything else is YAML. YAML is parsed safely: core schema, no tags,
 * unique keys, one document, capped aliases.
 *
 * @throws WritError `invalid_request` (400): an unsupported content type, malformed JSON or YAML
 *   (`manifest is not valid JSON: unexpected end of input at line 1, column 9`), or every
 *   validation problem at once, joined by `; ` (`task.id: required; grants[0].actions: required`).
 */
export function parseManifest(body: string, options: ParseManifestOptions = {}): Manifest {
  const text = body.startsWith('\uFEFF') ? body.slice(1) : body
  const format = formatOf(text, options.contentType)
  let value: unknown
  if (format === 'json') {
    try {
      value = JSON.parse(text)
    } catch {
      throw invalidRequest(`manifest is not valid JSON: ${describeJsonSyntaxError(text)}`)
    }
  } else {
    try {
      value = parseSafeYaml(text)
    } catch (err) {
      if (!(err instanceof YamlSyntaxError)) throw err
      throw invalidRequest(`manifest is not valid YAML: ${err.problems.join('; ')}`)
    }
  }
  return parseManifestObject(value, options)
}

/**
 * Validates an already-parsed manifest (for example a JSON body a framework decoded).
 *
 * @throws WritError `invalid_request` (400) listing every problem, each naming its field;
 *   `invalid_target` (400) for a resource indicator that is not an absolute URI without fragment.
 */
export function parseManifestObject(
  value: unknown,
  options: { maxGrants?: number } = {},
): Manifest {
  // Ensure the input is plain JSON data without prototype-reaching names before zod copies it.
  const problems = findJsonProblems(value)
  const result = manifestSchema(options.maxGrants ?? DEFAULT_MAX_GRANTS).safeParse(value, {
    error: friendlyErrors,
  })
  if (!result.success) problems.push(...formatIssues(result.error.issues))
  if (problems.length > 0 || !result.success) {
    throw invalidRequest(joinProblems(problems, 'manifest: invalid'))
  }
  const manifest = result.data
  // Ensure each resource indicator is an absolute URI without fragment (RFC 8707 §2).
  if (manifest.resources !== undefined) {
    manifest.resources = parseResourceIndicators(manifest.resources, 'resources')
  }
  return manifest
}

function formatOf(text: string, contentType: string | undefined): 'json' | 'yaml' {
  if (contentType === undefined || contentType.trim() === '') {
    return text.trimStart().startsWith('{') ? 'json' : 'yaml'
  }
  const mediaType = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  const structured = mediaType.startsWith('application/')
  if (mediaType === 'application/json' || (structured && mediaType.endsWith('+json'))) return 'json'
  if (YAML_TYPES.has(mediaType) || (structured && mediaType.endsWith('+yaml'))) return 'yaml'
  // Ensure an unexpected body is refused rather than guessed at.
  throw new WritError(
    'invalid_request',
    400,
    `unsupported content type ${JSON.stringify(mediaType.slice(0, 100))}: ` +
      'send application/json or application/yaml',
  )
}
