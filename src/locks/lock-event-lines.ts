import { isoSeconds, type AuditEventLines } from '../audit/audit-event-lines.js'

/** How `writ audit` describes the events of locks. */
export const lockEventLines: AuditEventLines<'lock.created' | 'lock.removed'> = {
  'lock.created': (event) =>
    [
      `${event.target_kind} ${event.target} locked by ${event.actor} (lock ${event.lock}`,
      event.expires_at !== undefined ? `, until ${isoSeconds(event.expires_at)}` : '',
      `): ${event.reason}`,
      event.revoked !== undefined ? `; ${event.revoked} live grant(s) revoked` : '',
    ].join(''),
  'lock.removed': (event) =>
    `${event.target_kind} ${event.target} unlocked by ${event.actor} (lock ${event.lock}: ${event.reason})`,
}
