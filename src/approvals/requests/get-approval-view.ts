import type { AuthorizationDetail, TaskInfo } from '../../manifest/types.js'
import { approvalNotFound, effectiveStatus } from '../approval-errors.js'
import type { ApprovalDeps } from '../deps.js'
import { noteApprovalExpired } from './note-approval-expired.js'
import { eligibleRequirements } from './eligible-requirements.js'
import type { ApprovalStatus } from '../types.js'

/** Everything the approval page shows, exactly as stored. */
export interface ApprovalView {
  id: string
  clientId: string
  task: TaskInfo
  grants: AuthorizationDetail[]
  /** RFC 8707 resources the token will be for (its `aud`), when the request named any. */
  resources?: string[]
  /** OAuth scope names the grants were expanded from, when the request used scope. */
  scopes?: string[]
  manifestSha256: string
  /** Life of the token once approved. */
  ttlSeconds: number
  createdAt: number
  expiresAt: number
  status: ApprovalStatus | 'expired'
  requirements: Array<{
    ruleId: string
    approvers: number
    group: string
    forbidSelfApproval: boolean
    /** Who has approved, counting toward this rule. */
    approvedBy: string[]
  }>
  approvals: Array<{ sub: string; at: number }>
  denial?: { sub: string; at: number }
  /** The token will be DPoP-bound (RFC 9449): only the agent's own key can use it. */
  dpopBound: boolean
  /** Attestation is relaxed (dev mode): say so on the page. */
  devAttestation: boolean
}

/**
 * What an approver needs to decide: the client, the task, every grant, the token's life, the
 * request's expiry, each rule's progress, and the decisions so far.
 *
 * @throws WritError `not_found` (404).
 */
export async function getApprovalView(deps: ApprovalDeps, approvalId: string): Promise<ApprovalView> {
  const record = await deps.store.getRequest(approvalId)
  if (!record) throw approvalNotFound()
  const { request } = record
  const requestedBy = request.manifest.task.requested_by
  const status = effectiveStatus(record, deps.clock())
  if (status === 'expired') await noteApprovalExpired(deps, record)
  return {
    id: request.id,
    clientId: request.clientId,
    task: request.manifest.task,
    grants: request.manifest.grants,
    ...(request.manifest.resources ? { resources: request.manifest.resources } : {}),
    ...(request.manifest.scopes ? { scopes: request.manifest.scopes } : {}),
    manifestSha256: request.manifestSha256,
    ttlSeconds: request.ttlSeconds,
    createdAt: request.createdAt,
    expiresAt: request.expiresAt,
    status,
    requirements: request.requirements.map((r) => ({
      ruleId: r.ruleId,
      approvers: r.approvers,
      group: r.from,
      forbidSelfApproval: r.forbidSelfApproval,
      approvedBy: record.votes
        .filter((v) => eligibleRequirements(deps.policy(), [r], requestedBy, v.sub).length > 0)
        .map((v) => v.sub),
    })),
    approvals: record.votes.map((v) => ({ sub: v.sub, at: v.at })),
    ...(record.denial ? { denial: { sub: record.denial.sub, at: record.denial.at } } : {}),
    dpopBound: request.cnfJkt !== undefined,
    devAttestation: deps.attestation.mode === 'relaxed',
  }
}
