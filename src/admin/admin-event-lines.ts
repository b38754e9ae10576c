import type { AuditEventLines } from '../audit/audit-event-lines.js'

/** How `writ audit` describes the admin API's events. */
export const adminEventLines: AuditEventLines<'admin.auth_failed' | 'admin.action'> = {
  'admin.auth_failed': (event) =>
    `admin token refused on ${event.path} ×${event.count}: ${event.reason}`,
  'admin.action': (event) => `admin ${event.method} ${event.path} → ${event.status}`,
}
