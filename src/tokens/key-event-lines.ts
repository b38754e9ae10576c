import type { AuditEventLines } from '../audit/audit-event-lines.js'

/** How `writ audit` describes the events of signing keys. */
export const keyEventLines: AuditEventLines<'key.rotated' | 'key.set_refused'> = {
  'key.rotated': (event) =>
    [
      `signing key ${event.kid} became current`,
      event.previous_kid ? `, replacing ${event.previous_kid}` : '',
      event.actor === 'system'
        ? ' (scheduled)'
        : ` (by ${event.actor}${event.compromised ? ', compromised' : event.forced ? ', forced' : ''})`,
      event.withdrawn_kids?.length ? `; withdrawn: ${event.withdrawn_kids.join(', ')}` : '',
    ].join(''),
  'key.set_refused': (event) =>
    [
      `ALARM: refused the key set in the store (version ${event.version}): ${event.reason}`,
      event.kept_kid ? `; still signing with ${event.kept_kid}` : '',
    ].join(''),
}
