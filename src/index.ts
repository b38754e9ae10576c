/**
 * `writ`: embed the broker, or use its building blocks (policy, manifests, approval evidence).
 * Downstream services import `writ/verifier`; agent runtimes import `writ/client`.
 * @packageDocumentation
 */
export { createBroker, type Broker, type BrokerOptions } from './broker.js'
export { loadConfig, parseConfig, ConfigError, type Config, type ConfigInput } from './config.js'
export { WritError, type WritErrorCode } from './errors.js'
export { createLogger, type Logger } from './logger.js'
export {
  canonicalize,
  manifestSha256,
  parseManifest,
  parseManifestObject,
  type AuthorizationDetail,
  type Manifest,
} from './manifest/index.js'
export { decide, explain, loadPolicy, loadPolicyFile, PolicyError, type Policy } from './policy/index.js'
export type { Grant, GrantStore } from './grants/index.js'
export { createMemoryStore, createRedisStore, type Store } from './open-store.js'
export { loadTrustAnchors, verifyApprovalEvidence, verifyApprovalFromChain } from './approvals/index.js'
export { hashSecret, generateSecret } from './client-auth/index.js'
