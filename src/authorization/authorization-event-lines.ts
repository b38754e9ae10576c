import type { AuditEventLines } from '../audit/audit-event-lines.js'

type AuthorizationEventType =
  | 'authorization.requested'
  | 'authorization.consented'
  | 'authorization.denied'
  | 'authorization.refused'
  | 'authorization.code_redeemed'
  | 'authorization.code_replayed'

const by = (approver: string | undefined): string => (approver ? ` by ${approver}` : '')

/** How `writ audit` describes the events of the authorization code flow. */
export const authorizationEventLines: AuditEventLines<AuthorizationEventType> = {
  'authorization.requested': (event) =>
    `client ${event.client} asked for consent (authorization ${event.authorization}, task ${event.task})`,
  'authorization.consented': (event) =>
    `authorization ${event.authorization} of client ${event.client} consented to${by(event.approver)}; a code was issued`,
  'authorization.denied': (event) =>
    `authorization ${event.authorization} of client ${event.client} declined${event.reason ? `: ${event.reason}` : ''}`,
  'authorization.refused': (event) =>
    `consent to authorization ${event.authorization} of client ${event.client} refused${by(event.approver)}${event.reason ? `: ${event.reason}` : ''}`,
  'authorization.code_redeemed': (event) =>
    `client ${event.client} redeemed the code of authorization ${event.authorization}${event.grant ? ` for grant ${event.grant}` : ''}`,
  'authorization.code_replayed': (event) =>
    `the code of authorization ${event.authorization} was presented again by client ${event.client}${event.grant ? `; grant ${event.grant} revoked` : ''}`,
}
