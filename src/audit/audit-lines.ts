import { textOf, type AuditEventLines } from './audit-event-lines.js'

/** How `writ audit` describes the log's own events. */
export const auditLines: AuditEventLines<
  'audit.checkpoint' | 'audit.exported' | 'audit.seal_refused' | 'audit.trimmed'
> = {
  'audit.checkpoint': (event) => `checkpoint signed by key ${textOf(event.jwk.kid)}`,
  'audit.exported': (event) =>
    `events ${event.from_seq} to ${event.to_seq} exported by ${event.actor} to ${event.destination}`,
  'audit.seal_refused': (event) =>
    `export from seq ${event.from_seq} refused: the log does not verify${event.seq === undefined ? '' : ` at seq ${event.seq}`} (${event.reason})`,
  'audit.trimmed': (event) =>
    `${event.count} events before seq ${event.before_seq} trimmed by ${event.actor} (exported to ${event.exported_to})`,
}
