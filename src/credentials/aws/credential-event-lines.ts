import { isoSeconds, type AuditEventLines } from '../../audit/audit-event-lines.js'

/** How `writ audit` describes vended credentials. */
export const credentialEventLines: AuditEventLines<'credential.vended'> = {
  'credential.vended': (event) =>
    [
      `${event.provider} credentials for ${event.resource} vended to ${event.client}`,
      ` under grant ${event.grant}`,
      event.task ? ` (task ${event.task})` : '',
      event.session ? `, session ${event.session}` : '',
      `, until ${isoSeconds(event.expires_at)}`,
    ].join(''),
}
