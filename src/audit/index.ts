export type * from './types.js'
export { GENESIS_HASH } from './types.js'
export type { AuditLog, AuditReadOptions, AuditTrimOptions } from './audit-log.js'
export { auditIndexRefs, type AuditQuery } from './audit-index-refs.js'
export { hashAuditEvent } from './hash-audit-event.js'
export { CHECKPOINT_TYP, SEAL_TYP, type AuditSigner } from './sign-audit-jws.js'
export { createAuditLog, type AuditLogOptions } from './create-audit-log.js'
export { createMemoryAuditLog } from './memory-audit-log.js'
export { createRedisAuditLog, type RedisAuditLogOptions } from './redis-audit-log.js'
export {
  createAuditor,
  type Auditor,
  type AuditorOptions,
  type RepeatedEventInput,
} from './create-auditor.js'
export {
  exportAudit,
  type AuditExport,
  type AuditSeal,
  type ExportAuditOptions,
} from './export-audit.js'
export { findSeqAtTime } from './find-seq-at-time.js'
export { auditStory } from './audit-story.js'
export {
  verifyChain,
  type ChainProblem,
  type ChainVerification,
  type VerifyChainOptions,
} from './verify-chain.js'
export { openAuditLog, type OpenAuditLogOptions } from './open-audit-log.js'
