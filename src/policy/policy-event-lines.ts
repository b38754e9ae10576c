import type { AuditEventLines } from '../audit/audit-event-lines.js'

const short = (hash: string): string => hash.slice(0, 12)

/** How `writ audit` describes the events of policy changes. */
export const policyEventLines: AuditEventLines<'policy.changed' | 'policy.refused'> = {
  'policy.changed': (event) =>
    [
      `policy ${short(event.old_hash)} replaced by ${short(event.new_hash)}`,
      event.source === 'store'
        ? ` (applied by ${event.actor}, generation ${event.generation ?? '?'})`
        : ' (policy file re-read on SIGHUP)',
    ].join(''),
  'policy.refused': (event) =>
    `refused the stored policy (version ${event.version}), keeping ${short(event.kept_hash)}: ${event.reason}`,
}
