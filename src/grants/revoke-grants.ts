import { revokeGrantTree, revokeOrphans } from './revoke-descendants.js'
import type { GrantStore, RevocationInput } from './store.js'

/** What to revoke: exactly one grant, task, client, approver, or everything. */
export type RevocationTarget =
  | { grantId: string }
  | { taskId: string }
  | { clientId: string }
  | { approver: string }
  | { all: true }

export interface RevokeGrantsDeps {
  store: GrantStore
}

/** What a revocation took: the grants `target` names, and grants delegated from them. */
export interface RevokedCounts {
  /** Live grants the target names, revoked now. */
  revoked: number
  /** Live grants delegated from them (token exchange, at any depth), revoked with them. */
  descendants: number
}

/**
 * Revokes every live grant `target` names and returns how many were revoked, descendants
 * included (see {@link revokeTarget}).
 */
export async function revokeGrants(
  deps: RevokeGrantsDeps,
  target: RevocationTarget,
  revocation: RevocationInput,
): Promise<number> {
  const { revoked, descendants } = await revokeTarget(deps, target, revocation)
  return revoked + descendants
}

/**
 * Revokes every live grant `target` names, and every grant delegated from them at any depth.
 * Each revoked grant leaves a tombstone with `revocation` until its original expiry, and the
 * store announces it on the revocation channel. A grant, task, client or approver with nothing
 * live revokes nothing.
 *
 * Every scope reaches every live grant it names whatever the policy in force says: the store
 * knows every client with live grants, so a task-wide or global revocation also reaches grants of
 * a client since removed from the policy (or missing from this replica's policy while a policy
 * change rolls out), and a client id or approver is taken as given.
 *
 * The named grants go first: a delegated grant is live only while every grant above it is, so
 * that ends their descendants everywhere at once; a pass then takes out the descendants' records
 * (`revoke-descendants.ts`).
 */
export async function revokeTarget(
  deps: RevokeGrantsDeps,
  target: RevocationTarget,
  revocation: RevocationInput,
): Promise<RevokedCounts> {
  const { store } = deps
  if ('grantId' in target) {
    const found = await store.findGrant(target.grantId)
    if (found.state === 'unknown') return { revoked: 0, descendants: 0 }
    const clientId = found.state === 'live' ? found.grant.clientId : found.revocation.clientId
    const tree = await revokeGrantTree(store, { clientId, grantId: target.grantId }, revocation)
    return { revoked: tree.grant ? 1 : 0, descendants: tree.descendants }
  }
  let revoked: number
  if ('taskId' in target) revoked = await store.revokeByTask(target.taskId, revocation)
  else if ('clientId' in target) revoked = await store.revokeByClient(target.clientId, revocation)
  else if ('approver' in target) revoked = await store.revokeByApprover(target.approver, revocation)
  else revoked = await store.revokeAll(revocation)
  const descendants = await revokeOrphans(store, revocation)
  return { revoked, descendants }
}
