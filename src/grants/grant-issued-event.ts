import type { Grant, GrantDelegation } from './grant.js'
import { canonicalize } from '../manifest/canonicalize.js'
import type { AuditDelegation, EncodedAuditEvent, GrantIssuedEvent } from '../audit/types.js'

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
  if (grant.claimsSha256 !== undefined) event.claims_sha256 = grant.claimsSha256
  if (grant.delegation) event.delegation = auditDelegation(grant.delegation)
  if (grant.onBehalfOf) event.on_behalf_of = { iss: grant.onBehalfOf.issuer, sub: grant.onBehalfOf.subject }
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

/** A delegated grant's chain as its `grant.issued` event (and stored record) holds it. */
function auditDelegation(delegation: GrantDelegation): AuditDelegation {
  return {
    parent: delegation.parentId,
    parent_client: delegation.parentClientId,
    ancestors: delegation.ancestors.map((a) => ({ client: a.clientId, grant: a.grantId })),
    depth: delegation.depth,
    max_depth: delegation.maxDepth,
    subject: delegation.subject,
    act: delegation.act,
  }
}

/** A member's value as RFC 8785 writes it; canonicalize refuses lone surrogates and NaN. */
const str: (value: string) => string = canonicalize
const num: (value: number) => string = canonicalize

/**
 * The `grant.issued` event of a grant (see {@link grantIssuedEvent}), encoded: its canonical JSON
 * is written member by member in RFC 8785 order, reusing the canonical JSON of the authorization
 * details that the manifest hash already computed (`detailsJson`). Equal, byte for byte, to
 * `canonicalize({ ...grantIssuedEvent(grant), time })`.
 */
export function encodeGrantIssued(
  grant: Grant,
  detailsJson: string = canonicalize(grant.authorizationDetails),
): EncodedAuditEvent {
  const { task, approval } = grant
  const actor = `client:${grant.clientId}`
  const refs = [`g:${grant.id}`, `t:${task.id}`]
  if (approval) {
    refs.push(`a:${approval.id}`)
    for (const a of approval.approvers) if (!refs.includes(`p:${a.sub}`)) refs.push(`p:${a.sub}`)
  }
  // A delegated grant's issuance is also part of its parent's story (`writ audit show --grant`).
  if (grant.delegation) refs.push(`g:${grant.delegation.parentId}`)
  // A grant for a person is part of that person's story too.
  if (grant.onBehalfOf && !refs.includes(`p:${grant.onBehalfOf.subject}`)) refs.push(`p:${grant.onBehalfOf.subject}`)
  return {
    type: 'grant.issued',
    actor,
    refs,
    encode(time) {
      // Members in canonical order: actor, approval, approvers, authorization_details,
      // claims_sha256, client, cnf_jkt, delegation, expires_at, grant, issued_at, manifest_sha256, on_behalf_of, requested_by, rules, task,
      // task_purpose, time, type (approvers' members: aaguid, at, credential_id, sub).
      let out = `{"actor":${str(actor)}`
      if (approval) {
        const approvers = approval.approvers.map(
          (a) =>
            `{"aaguid":${str(a.aaguid)},"at":${num(a.at)},` +
            `"credential_id":${str(a.credentialId)},"sub":${str(a.sub)}}`,
        )
        out += `,"approval":${str(approval.id)},"approvers":[${approvers.join(',')}]`
      }
      out += `,"authorization_details":${detailsJson}`
      if (grant.claimsSha256 !== undefined) out += `,"claims_sha256":${str(grant.claimsSha256)}`
      out += `,"client":${str(grant.clientId)}`
      if (grant.cnfJkt !== undefined) out += `,"cnf_jkt":${str(grant.cnfJkt)}`
      if (grant.delegation) out += `,"delegation":${canonicalize(auditDelegation(grant.delegation))}`
      out += `,"expires_at":${num(grant.expiresAt)},"grant":${str(grant.id)}`
      out += `,"issued_at":${num(grant.issuedAt)},"manifest_sha256":${str(grant.manifestSha256)}`
      if (grant.onBehalfOf) {
        out += `,"on_behalf_of":{"iss":${str(grant.onBehalfOf.issuer)},"sub":${str(grant.onBehalfOf.subject)}}`
      }
      if (task.requested_by !== undefined) out += `,"requested_by":${str(task.requested_by)}`
      out += `,"rules":[${grant.ruleIds.map(str).join(',')}],"task":${str(task.id)}`
      if (task.purpose !== undefined) out += `,"task_purpose":${str(task.purpose)}`
      return `${out},"time":${str(time)},"type":"grant.issued"}`
    },
  }
}
