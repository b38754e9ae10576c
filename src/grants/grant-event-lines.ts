import { isoSeconds, textOf, type AuditEventLines } from '../audit/audit-event-lines.js'

type Fields = Record<string, unknown>

/** A grant's authorization details in one line: `type:actions locations identifier; …`. */
function detailsOf(e: Fields): string {
  const details = Array.isArray(e.authorization_details) ? (e.authorization_details as Fields[]) : []
  const list = (v: unknown, sep: string): string => (Array.isArray(v) ? v.map(textOf).join(sep) : '')
  return details
    .map((d) => {
      const where = [list(d.locations, ' '), d.identifier === undefined ? '' : textOf(d.identifier)]
      return [`${textOf(d.type)}:${list(d.actions, ',')}`, ...where.filter(Boolean)].join(' ')
    })
    .join('; ')
}

/** How `writ audit` describes the events of grants and token requests. */
export const grantEventLines: AuditEventLines<
  'grant.issued' | 'grant.voided' | 'token.denied' | 'grant.revoked'
> = {
  'grant.issued': (event) => {
    const approvers = (event.approvers ?? []).map(
      (a) => `${a.sub} (key ${a.credential_id}, AAGUID ${a.aaguid})`,
    )
    return [
      `grant ${event.grant} issued to ${event.client} for task ${event.task}`,
      event.task_purpose ? ` ("${event.task_purpose}")` : '',
      event.requested_by ? `, requested by ${event.requested_by}` : '',
      `; manifest ${event.manifest_sha256.slice(0, 16)}…; rules ${event.rules.join(', ')}`,
      `; ${detailsOf(event as unknown as Fields)}; until ${isoSeconds(event.expires_at)}`,
      event.cnf_jkt ? `; DPoP-bound to ${event.cnf_jkt}` : '',
      event.approval ? `; approval ${event.approval} by ${approvers.join(', ')}` : '',
    ].join('')
  },
  'grant.voided': (event) =>
    `grant ${event.grant} voided, no token issued: ${event.reason} (${event.message})`,
  'token.denied': (event) =>
    `${event.client} refused for task ${event.task ?? '-'}: ${event.reason} (${event.message})`,
  'grant.revoked': (event) => {
    const scoped = (event as unknown as Fields)[event.scope]
    const what = event.scope === 'all' ? 'every grant' : `${event.scope} ${textOf(scoped)}`
    const count = `${event.count} grant${event.count === 1 ? '' : 's'}`
    return `revoked by ${event.actor}: ${what}, "${event.reason}" (${count})`
  },
}
