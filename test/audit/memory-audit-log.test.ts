import { createMemoryAuditLog } from '../../src/audit/memory-audit-log.js'
import { auditLogContract } from './audit-log-contract.js'

auditLogContract('memory', async (options) => createMemoryAuditLog(options))
