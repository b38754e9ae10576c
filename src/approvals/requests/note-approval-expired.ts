import type { ApprovalDeps } from '../deps.js'
import type { ApprovalRecord } from '../types.js'

/**
 * Audits `approval.expired` for a request found expired while nobody had decided it, wherever it
 * is found so (a poll, the approval page, a ceremony). Once per request across replicas: only the
 * caller that marks it in the store writes the event. The audit write never throws; the store's
 * does (503), like every other read of the request.
 */
export async function noteApprovalExpired(
  deps: Pick<ApprovalDeps, 'store' | 'audit' | 'clock'>,
  record: ApprovalRecord,
): Promise<void> {
  const { request } = record
  if (record.status !== 'pending' || request.expiresAt * 1000 > deps.clock()) return
  // Ensure one event per request, whichever replica or caller finds it expired first.
  if (!(await deps.store.markExpired(request.id))) return
  await deps.audit.note({
    type: 'approval.expired',
    actor: 'system',
    approval: request.id,
    client: request.clientId,
    task: request.manifest.task.id,
    detail: { expires_at: request.expiresAt, approvals: record.votes.length },
  })
}
