import type { Grant } from '../grants/grant.js'
import type { GrantIssuedEvent } from './types.js'

/** The `grant.issued` event of a grant: the request, the policy's rules, what was granted. */
export function grantIssuedEvent(grant: Grant): GrantIssuedEvent {
  const event: GrantIssuedEvent = {
    type: 'grant.issued',
    actor: `client:${grant.clientId}`,
    client: grant.clientId,
    grant: grant.id,
    task: grant.task.id,
    manifest_sha256: grant.manifestSha256,
    rules: grant.ruleIds,
    authorization_details: grant.authorizationDetails,
    issued_at: grant.issuedAt,
    expires_at: grant.expiresAt,
  }
  if (grant.task.purpose !== undefined) event.task_purpose = grant.task.purpose
  if (grant.task.requested_by !== undefined) event.requested_by = grant.task.requested_by
  if (grant.cnfJkt !== undefined) event.cnf_jkt = grant.cnfJkt
  if (grant.approval) {
    event.approval = grant.approval.id
    event.approvers = grant.approval.approvers.map((a) => ({
      sub: a.sub,
      aaguid: a.aaguid,
      credential_id: a.credentialId,
      at: a.at,
    }))
  }
  return event
}
