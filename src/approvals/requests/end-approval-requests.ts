import type { ApprovalDeps } from '../deps.js'
import type { ApprovalScope } from '../store/store.js'
import type { ApprovalRevocation } from '../types.js'

/**
 * Ends the open approval requests `scope` names (pending, or approved and not yet collected):
 * each answers `access_denied` to its client from then on and takes no more decisions. Each one
 * ended is audited as `approval.revoked` with the reason, after it took effect (an audit failure
 * never undoes it). Returns how many were ended.
 *
 * Scopes are found through the store's own indexes, never through the policy: a client removed
 * from the policy has its requests ended too.
 */
export async function endApprovalRequests(
  deps: Pick<ApprovalDeps, 'store' | 'audit' | 'logger'>,
  scope: ApprovalScope,
  revocation: ApprovalRevocation,
): Promise<number> {
  // Ensure each request is ended atomically in the store, so none is redeemed after this returns.
  const ended = await deps.store.endRequests(scope, revocation)
  for (const record of ended) {
    const { request } = record
    await deps.audit.note({
      type: 'approval.revoked',
      actor: revocation.by,
      approval: request.id,
      client: request.clientId,
      task: request.manifest.task.id,
      reason: revocation.reason,
      detail: { approvals: record.votes.length },
    })
  }
  if (ended.length > 0) {
    deps.logger.info('approval requests revoked', { scope, by: revocation.by, count: ended.length })
  }
  return ended.length
}
