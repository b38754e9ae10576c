import type { Grant, Revocation } from '../../grants/index.js'
import { describeGrant } from '../../policy/index.js'

/*
 * How the admin API shows grants and tombstones: snake_case JSON, times in seconds since the epoch
 * (as in tokens), nothing secret (grants hold none).
 */

/** One line per live grant in `GET /admin/grants`. */
export function grantSummary(grant: Grant) {
  return {
    id: grant.id,
    client_id: grant.clientId,
    task: grant.task,
    grants: grant.authorizationDetails.map(describeGrant),
    approved_by: grant.approval?.approvers.map((a) => a.sub) ?? [],
    issued_at: grant.issuedAt,
    expires_at: grant.expiresAt,
  }
}

/** A live grant in full, for `GET /admin/grants/{id}`. */
export function grantDetail(grant: Grant) {
  return {
    id: grant.id,
    client_id: grant.clientId,
    task: grant.task,
    manifest_sha256: grant.manifestSha256,
    authorization_details: grant.authorizationDetails,
    rule_ids: grant.ruleIds,
    ...(grant.approval
      ? {
          approval: {
            id: grant.approval.id,
            manifest_sha256: grant.approval.manifestSha256,
            approvers: grant.approval.approvers.map((a) => ({
              sub: a.sub,
              aaguid: a.aaguid,
              credential_id: a.credentialId,
              at: a.at,
            })),
          },
        }
      : {}),
    ...(grant.cnfJkt ? { cnf: { jkt: grant.cnfJkt } } : {}),
    issued_at: grant.issuedAt,
    expires_at: grant.expiresAt,
  }
}

/** A revoked grant's tombstone, for `GET /admin/grants/{id}`. */
export function revocationDetail(revocation: Revocation) {
  return {
    grant_id: revocation.grantId,
    client_id: revocation.clientId,
    revoked_by: revocation.by,
    reason: revocation.reason,
    revoked_at: revocation.at,
    expires_at: revocation.expiresAt,
  }
}
