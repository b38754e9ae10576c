import type { AuditEventLines } from '../audit/audit-event-lines.js'

/** How `writ audit` describes failed client authentication. */
export const clientAuthEventLines: AuditEventLines<'client.auth_failed'> = {
  'client.auth_failed': (event) =>
    `client authentication failed as ${event.client ?? '(no client id)'} ×${event.count}: ${event.reason}`,
}
