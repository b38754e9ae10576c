import { createHash, randomBytes } from 'node:crypto'
import { epochSeconds } from '../../clock.js'
import { invalidRequest, WritError } from '../../errors.js'
import type { ApprovalInput, ApprovalPending } from '../../grants/issue-grant.js'
import { assertUnlocked } from '../../locks/assert-unlocked.js'
import { lockTargetsOf } from '../../locks/types.js'
import { manifestSha256 } from '../../manifest/index.js'
import { DEFAULT_MAX_PENDING_APPROVALS } from '../../policy/schema.js'
import { randomId } from '../../random-id.js'
import type { ApprovalDeps } from '../deps.js'
import { MAX_JOINED_SECRETS } from '../store/store.js'
import type { ApprovalRequest } from '../types.js'
import { assertApprovable } from './assert-approvable.js'

/** The client, its manifest, the policy's decision for them, and the DPoP key, if any. */
export type CreateApprovalRequestInput = ApprovalInput

/** SHA-256 (hex) of the secret half of an `auth_req_id`; only the hash is stored. */
export const authReqSecretHash = (secret: string): string =>
  createHash('sha256').update(secret, 'utf8').digest('hex')

/**
 * Records an approval request for a manifest, audits it (`approval.requested`) and announces it
 * to the approver groups it needs.
 * A decision with no approval requirement (a CIBA request for grants that need no human) is
 * recorded as approved already, so its first poll returns the token.
 *
 * @throws WritError `invalid_request` (400) when a rule that forbids self-approval applies and the
 *   task names no `requested_by`: nobody could then tell the requester from the approvers.
 *
 * Answers `{auth_req_id, approval_uri, expires_in, interval}`. The `auth_req_id` is the approval id plus a 256-bit secret of which only a hash is stored: the
 * approval id travels in approval URLs and webhooks, the secret only to the client.
 *
 * Requests that need a human are bounded per client: an identical request (same client, manifest
 * hash, DPoP key, requirements and token life) made while one is pending joins it: the answer
 * names the same approval, with a fresh secret of its own, and nobody is notified or audited
 * again. A client with `max_pending_approvals` requests pending is refused.
 *
 * @throws WritError `access_denied` (403) when the keys enrolled now cannot approve it
 *   ({@link assertApprovable}).
 * @throws WritError `quota_exceeded` (429) when the client has reached `max_pending_approvals`,
 *   or an identical request already has {@link MAX_JOINED_SECRETS} handles.
 */
export async function createApprovalRequest(
  deps: ApprovalDeps,
  input: CreateApprovalRequestInput,
): Promise<ApprovalPending> {
  const { settings } = deps
  const selfForbidden = input.decision.approval?.requirements.find((r) => r.forbidSelfApproval)
  // Ensure a rule that forbids self-approval can tell who asked: without requested_by it cannot.
  if (selfForbidden !== undefined && input.manifest.task.requested_by === undefined) {
    throw invalidRequest(
      `requested_by: required: rule ${selfForbidden.ruleId} forbids self-approval, so the ` +
        'request must name who asked for the task (task.requested_by in a manifest)',
    )
  }
  // Ensure a proven person can be told from the approvers: they are listed by address.
  if (selfForbidden !== undefined && input.person !== undefined && !input.person.id.includes('@')) {
    throw invalidRequest(
      `subject_token: the person's id ${input.person.id} is not an address, but rule ${selfForbidden.ruleId} ` +
        "forbids self-approval and approvers are listed by address; set the issuer's subject_claim to email",
    )
  }
  // Ensure a locked client or task cannot ask people for anything.
  await assertUnlocked(deps.locks, lockTargetsOf({ clientId: input.clientId, taskId: input.manifest.task.id }))
  // Ensure an agent is not left waiting for a decision that the keys enrolled now cannot make.
  await assertApprovable(deps, input.decision.approval?.requirements ?? [], input.manifest.task.requested_by)
  const now = epochSeconds(deps.clock)
  const secret = randomBytes(32).toString('base64url')
  const request: ApprovalRequest = {
    id: randomId(),
    clientId: input.clientId,
    secretSha256: authReqSecretHash(secret),
    manifest: {
      task: input.manifest.task,
      ...(input.manifest.ttlSeconds !== undefined ? { ttlSeconds: input.manifest.ttlSeconds } : {}),
      grants: input.manifest.grants,
      ...(input.manifest.resources !== undefined ? { resources: input.manifest.resources } : {}),
      ...(input.manifest.scopes !== undefined ? { scopes: input.manifest.scopes } : {}),
    },
    manifestSha256: manifestSha256(input.manifest),
    ttlSeconds: input.decision.ttlSeconds,
    requirements: input.decision.approval?.requirements ?? [],
    ...(input.cnfJkt ? { cnfJkt: input.cnfJkt } : {}),
    ...(input.person ? { person: input.person } : {}),
    createdAt: now,
    expiresAt: now + settings.timeoutSeconds,
    intervalSeconds: settings.pollIntervalSeconds,
  }
  const client = deps.policy().clients.get(input.clientId)
  const maxPending = client?.maxPendingApprovals ?? DEFAULT_MAX_PENDING_APPROVALS
  // Ensure one client cannot flood approvers: identical requests join, and pending ones are capped.
  const created = await deps.store.createRequest(request, { maxPending, coalesce: true })
  switch (created.outcome) {
    case 'too_many_pending':
      throw new WritError(
        'quota_exceeded',
        429,
        `the client has reached its limit of ${maxPending} approval requests waiting for a human ` +
          '(max_pending_approvals); wait for one to be decided or to expire',
        { retryAfterSeconds: Math.max(1, created.earliestExpiresAt - now) },
      )
    case 'too_many_joined':
      throw new WritError(
        'quota_exceeded',
        429,
        `an identical approval request (${created.request.id}) already has ${MAX_JOINED_SECRETS} ` +
          'handles waiting; poll one of them',
        { retryAfterSeconds: Math.max(1, created.request.expiresAt - now) },
      )
    case 'joined': {
      const joined = created.request
      deps.logger.info('approval request joined an identical pending one', {
        approvalId: joined.id,
        clientId: joined.clientId,
      })
      return {
        auth_req_id: `${joined.id}.${secret}`,
        approval_uri: `${settings.baseUrl}/approve/${joined.id}`,
        expires_in: Math.max(1, joined.expiresAt - now),
        interval: joined.intervalSeconds,
      }
    }
    case 'created':
      break
  }
  if (request.requirements.length > 0) {
    const { task } = request.manifest
    await deps.audit.note({
      type: 'approval.requested',
      actor: `client:${request.clientId}`,
      approval: request.id,
      client: request.clientId,
      task: task.id,
      manifest_sha256: request.manifestSha256,
      rules: request.requirements.map((r) => r.ruleId),
      expires_at: request.expiresAt,
      detail: {
        needs: request.requirements.map((r) => `${r.approvers} of ${r.from}`),
        ...(task.purpose !== undefined ? { task_purpose: task.purpose } : {}),
        ...(task.requested_by !== undefined ? { requested_by: task.requested_by } : {}),
      },
    })
    // Announce it in the background: a slow webhook must never hold the agent's request.
    deps.notifier.notify(request).catch(() => undefined)
    deps.logger.info('approval requested', {
      approvalId: request.id,
      clientId: request.clientId,
      taskId: request.manifest.task.id,
      rules: request.requirements.map((r) => r.ruleId),
    })
  }
  return {
    auth_req_id: `${request.id}.${secret}`,
    approval_uri: `${settings.baseUrl}/approve/${request.id}`,
    expires_in: settings.timeoutSeconds,
    interval: settings.pollIntervalSeconds,
  }
}
