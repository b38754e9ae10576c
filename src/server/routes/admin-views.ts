import type { Grant, Revocation } from '../../grants/index.js'
import { describeGrant } from '../../policy/index.js'
import type { GrantTreeNode } from '../../grants/grant-tree.js'

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
    ...(grant.delegation
      ? {
          delegation: {
            parent: grant.delegation.parentId,
            parent_client: grant.delegation.parentClientId,
            depth: grant.delegation.depth,
            max_depth: grant.delegation.maxDepth,
            subject: grant.delegation.subject,
            act: grant.delegation.act,
          },
        }
      : {}),
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

/** The grants delegated from a grant, for `GET /admin/grants/{id}` (`children`). */
export function treeDetail(nodes: readonly GrantTreeNode[]): unknown[] {
  return nodes.map((n) => ({
    id: n.id,
    client_id: n.clientId,
    state: n.state,
    ...(n.expiresAt !== undefined ? { expires_at: n.expiresAt } : {}),
    children: treeDetail(n.children),
  }))
}
