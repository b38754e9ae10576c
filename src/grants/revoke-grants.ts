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

/**
 * Revokes every live grant `target` names and returns how many were revoked. Each revoked grant
 * leaves a tombstone with `revocation` until its original expiry, and the store announces it on
 * the revocation channel. A grant, task, client or approver with nothing live revokes nothing.
 *
 * Every scope reaches every live grant it names whatever the policy in force says: the store
 * knows every client with live grants, so a task-wide or global revocation also reaches grants of
 * a client since removed from the policy (or missing from this replica's policy while a policy
 * change rolls out), and a client id or approver is taken as given.
 */
export async function revokeGrants(
  deps: RevokeGrantsDeps,
  target: RevocationTarget,
  revocation: RevocationInput,
): Promise<number> {
  const { store } = deps
  if ('grantId' in target) {
    const found = await store.findGrant(target.grantId)
    if (found.state !== 'live') return 0
    return (await store.revokeGrant(found.grant.clientId, target.grantId, revocation)) ? 1 : 0
  }
  if ('taskId' in target) return store.revokeByTask(target.taskId, revocation)
  if ('clientId' in target) return store.revokeByClient(target.clientId, revocation)
  if ('approver' in target) return store.revokeByApprover(target.approver, revocation)
  return store.revokeAll(revocation)
}
