import { adminEventLines } from '../admin/admin-event-lines.js'
import { approvalEventLines } from '../approvals/approval-event-lines.js'
import { authorizationEventLines } from '../authorization/authorization-event-lines.js'
import type { AuditEventLines } from '../audit/audit-event-lines.js'
import { auditLines } from '../audit/audit-lines.js'
import type { AuditEventType } from '../audit/types.js'
import { clientAuthEventLines } from '../client-auth/client-auth-event-lines.js'
import { credentialEventLines } from '../credentials/aws/credential-event-lines.js'
import { grantEventLines } from '../grants/grant-event-lines.js'
import { lockEventLines } from '../locks/lock-event-lines.js'
import { policyEventLines } from '../policy/policy-event-lines.js'
import { keyEventLines } from '../tokens/key-event-lines.js'

/**
 * Every audit event type's one-line description, each from the domain that emits it. Typed over
 * every {@link AuditEventType}: an event type added without its description does not compile.
 */
export const AUDIT_EVENT_LINES: AuditEventLines<AuditEventType> = {
  ...grantEventLines,
  ...approvalEventLines,
  ...authorizationEventLines,
  ...lockEventLines,
  ...clientAuthEventLines,
  ...adminEventLines,
  ...credentialEventLines,
  ...keyEventLines,
  ...policyEventLines,
  ...auditLines,
}
