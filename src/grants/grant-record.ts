import { encodeGrantIssued } from './grant-issued-event.js'
import type { GrantIssuedEvent } from '../audit/types.js'
import type { Grant, GrantApproval } from './grant.js'

/**
 * A grant's stored record (in a store that keeps records as text, like the Redis store): the
 * RFC 8785 canonical JSON of its `grant.issued` audit event, written at `time` (ISO 8601). The
 * event says everything the grant holds, so one text is both: a store that takes the event in
 * with the grant (`CreateGrantOptions.auditIntake`) gets one payload and keeps it twice, instead of
 * a second serialization of the same grant.
 *
 * `detailsJson` is the canonical JSON of the grant's authorization details, when the caller has it.
 */
export function encodeGrantRecord(grant: Grant, time: string, detailsJson?: string): string {
  return encodeGrantIssued(grant, detailsJson).encode(time)
}

/**
 * The grant in a stored record: a `grant.issued` event's JSON (see {@link encodeGrantRecord}), or
 * the plain JSON of a {@link Grant} that brokers before this form wrote (read while they live).
 *
 * @throws SyntaxError when `json` is not JSON.
 */
export function parseGrantRecord(json: string): Grant {
  const record = JSON.parse(json) as GrantIssuedEvent | Grant
  if (!('type' in record) || record.type !== 'grant.issued') return record as Grant
  const grant: Grant = {
    id: record.grant,
    clientId: record.client,
    task: { id: record.task },
    manifestSha256: record.manifest_sha256,
    authorizationDetails: record.authorization_details,
    ruleIds: record.rules,
    issuedAt: record.issued_at,
    expiresAt: record.expires_at,
  }
  if (record.task_purpose !== undefined) grant.task.purpose = record.task_purpose
  if (record.requested_by !== undefined) grant.task.requested_by = record.requested_by
  if (record.approval !== undefined) {
    const approval: GrantApproval = {
      id: record.approval,
      // A grant is minted only under an approval of its own manifest (see issueGrant).
      manifestSha256: record.manifest_sha256,
      approvers: (record.approvers ?? []).map((a) => ({
        sub: a.sub,
        aaguid: a.aaguid,
        credentialId: a.credential_id,
        at: a.at,
      })),
    }
    grant.approval = approval
  }
  if (record.cnf_jkt !== undefined) grant.cnfJkt = record.cnf_jkt
  if (record.claims_sha256 !== undefined) grant.claimsSha256 = record.claims_sha256
  if (record.on_behalf_of !== undefined) {
    grant.onBehalfOf = { subject: record.on_behalf_of.sub, issuer: record.on_behalf_of.iss }
  }
  if (record.delegation !== undefined) {
    const d = record.delegation
    grant.delegation = {
      parentId: d.parent,
      parentClientId: d.parent_client,
      ancestors: (d.ancestors ?? [{ client: d.parent_client, grant: d.parent }]).map((a) => ({
        clientId: a.client,
        grantId: a.grant,
      })),
      depth: d.depth,
      maxDepth: d.max_depth,
      subject: d.subject,
      act: d.act,
    }
  }
  return grant
}
