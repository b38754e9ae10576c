import { timingSafeEqual } from 'node:crypto'
import { epochSeconds } from '../../clock.js'
import { grantRevokedEvent } from '../../grants/grant-revoked-event.js'
import { invalidRequest, WritError } from '../../errors.js'
import type { GrantApproval } from '../../grants/grant.js'
import { tokenDeniedEvent } from '../../grants/token-denied-event.js'
import { lockRefusal } from '../../locks/lock-refusal.js'
import { parseResourceIndicators } from '../../manifest/index.js'
import { lockTargetsOf } from '../../locks/types.js'
import { issueGrant, type IssueGrantDeps, type TokenResponse } from '../../grants/issue-grant.js'
import { revokeGrants } from '../../grants/revoke-grants.js'
import { effectiveStatus } from '../approval-errors.js'
import { canStillComplete, checkVotes, type VoteCheck } from './check-votes.js'
import { authReqSecretHash } from './create-approval-request.js'
import type { ApprovalDeps } from '../deps.js'
import { endApprovalRequests } from './end-approval-requests.js'
import { noteApprovalExpired } from './note-approval-expired.js'
import { requirementsMet } from './requirements-met.js'
import type { ApprovalEvidence, ApprovalRecord } from '../types.js'

export interface RedeemApprovalInput {
  /** The authenticated client. */
  clientId: string
  authReqId: string
  /** Thumbprint of the DPoP proof sent with this poll, if any. */
  cnfJkt?: string | undefined
  /** RFC 8707 `resource` values sent with this poll, if any: they must be the approved ones. */
  resources?: readonly string[]
}

const AUTH_REQ_ID = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})$/

/** One answer for every auth_req_id a client may not use, so none can be probed. */
const invalidGrant = (detail: string): WritError =>
  new WritError('invalid_grant', 400, 'auth_req_id is unknown, expired, already used, or not issued to this client', {
    detail,
  })

const hexEqual = (a: string, b: string): boolean => {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && timingSafeEqual(x, y)
}

const revokedAnswer = (): WritError =>
  new WritError(
    'access_denied',
    400,
    'the approval request was revoked; no token will be issued for it',
  )

const pendingAnswer = (): WritError =>
  new WritError('authorization_pending', 400, 'the request is waiting for approval')

/**
 * An approved request some of whose votes no longer count, and whose remaining votes do not meet
 * its rules: the votes are withdrawn and it is pending again, or (when the policy no longer has
 * enough people who could approve) it is ended. Each withdrawn vote is audited as
 * `approval.rejected`. Always throws the answer for the poll.
 */
async function settleDroppedVotes(
  deps: ApprovalDeps,
  record: ApprovalRecord,
  check: VoteCheck,
): Promise<never> {
  const { request } = record
  const reasons = check.dropped.map((d) => `${d.vote.sub} (key ${d.vote.credentialId}): ${d.reason}`)
  if (!canStillComplete(deps.policy(), request.requirements, request.manifest.task.requested_by)) {
    await endApprovalRequests(
      deps,
      { approvalId: request.id },
      {
        by: 'system',
        reason: `votes no longer count and the rules can no longer be met: ${reasons.join('; ')}`,
        at: epochSeconds(deps.clock),
      },
    )
    throw revokedAnswer()
  }
  const credentialIds = check.dropped.map((d) => d.vote.credentialId)
  const withdrawn = await deps.store.withdrawVotes(request.id, credentialIds, record.votes.length)
  if (withdrawn.outcome === 'withdrawn') {
    for (const { vote, reason } of check.dropped) {
      await deps.audit.note({
        type: 'approval.rejected',
        actor: 'system',
        approval: request.id,
        approver: vote.sub,
        credential_id: vote.credentialId,
        aaguid: vote.aaguid,
        task: request.manifest.task.id,
        client: request.clientId,
        reason: `vote withdrawn before the token was collected: ${reason}`,
      })
    }
  }
  // Withdrawn, or changed meanwhile: either way the next poll sees where it stands now.
  throw pendingAnswer()
}

/**
 * Answers a CIBA poll (`grant_type=urn:openid:params:grant-type:ciba`): the token exactly once
 * when the request is approved, otherwise the CIBA error for where it stands (CIBA §11, all 400):
 * `authorization_pending`, `slow_down` (polled sooner than the interval; the interval grows by
 * 5 s), `access_denied` (an approver denied it), `expired_token`, or `invalid_grant` (unknown,
 * another client's, already redeemed).
 *
 * A request a revocation ended answers `access_denied`. Every vote is checked again before a
 * token is minted: a vote whose key is now flagged, disabled or gone, or whose person may no longer
 * approve, does not count. When the votes left do not meet the rules, those votes are withdrawn
 * and the request is pending again (`authorization_pending`), or ended (`access_denied`) when the
 * policy no longer has enough people to meet them. The token's `approval` claim and the evidence
 * name only the votes that count.
 *
 * A revocation that reaches the request while its token is being minted reaches the token: the
 * grant is revoked before the answer and the poll gets `access_denied` (the token never leaves).
 *
 * Collecting is atomic: the store marks the request redeemed for exactly one caller, after the
 * approval evidence is stored and before the grant is minted; the grant is then issued through
 * `issueGrant`, which decides the manifest again under the current policy and checks the
 * approval still meets it (so a rule tightened meanwhile is honoured).
 */
export async function redeemApproval(
  deps: ApprovalDeps & { issue: IssueGrantDeps },
  input: RedeemApprovalInput,
): Promise<TokenResponse> {
  const { store, clock } = deps
  const match = AUTH_REQ_ID.exec(input.authReqId)
  if (!match) throw invalidGrant('malformed auth_req_id')
  const [, approvalId, secret] = match as unknown as [string, string, string]

  const record = await store.getRequest(approvalId)
  if (!record) throw invalidGrant('no such approval request')
  const { request } = record
  // Ensure only the client the request was made for, holding its secret, can collect it.
  if (request.clientId !== input.clientId) throw invalidGrant(`request belongs to ${request.clientId}`)
  const presented = authReqSecretHash(secret)
  const secrets = [request.secretSha256, ...(record.joinedSecrets ?? [])]
  // Every handle is compared (in constant time each), so the answer's timing names none.
  if (!secrets.map((s) => hexEqual(presented, s)).includes(true)) throw invalidGrant('wrong secret')
  if (input.resources !== undefined) {
    const asked = parseResourceIndicators(input.resources, 'resource')
    const approved = request.manifest.resources ?? []
    // Ensure the token goes to the audience the request was approved for, and no other.
    const other = asked.find((r) => !approved.includes(r))
    if (other !== undefined || asked.length !== approved.length) {
      throw new WritError(
        'invalid_target',
        400,
        `resource: ${other ?? asked.join(' ')} is not what this request was made for ` +
          `(${approved.length > 0 ? approved.join(' ') : 'no resource'}); send the same resource values or none`,
      )
    }
  }
  // Ensure nothing is collected for a locked client or task, nor on a locked approver's vote.
  const approvers = record.votes.map((v) => v.sub)
  const lock = await deps.locks.findLock(
    lockTargetsOf({ clientId: request.clientId, taskId: request.manifest.task.id, approvers }),
  )
  if (lock) {
    const refusal = lockRefusal(lock)
    await deps.audit.note(tokenDeniedEvent(request.clientId, request.manifest, refusal))
    throw refusal
  }

  switch (effectiveStatus(record, clock())) {
    case 'redeemed':
      throw invalidGrant('already redeemed')
    case 'expired':
      await noteApprovalExpired(deps, record)
      throw new WritError('expired_token', 400, 'the approval request expired before a token was collected')
    case 'denied':
      throw new WritError('access_denied', 400, 'an approver denied the request')
    case 'revoked':
      throw revokedAnswer()
    case 'pending': {
      const poll = await store.recordPoll(request.id)
      if (poll.slowDown) {
        throw new WritError(
          'slow_down',
          400,
          `polling too fast: wait at least ${poll.intervalSeconds} seconds between requests`,
        )
      }
      throw pendingAnswer()
    }
    case 'approved':
      break
  }

  // Ensure the token binds to the key the request was made with (RFC 9449), and is DPoP-bound
  // when a rule demands it, before the approval is used up.
  if (request.cnfJkt !== undefined && input.cnfJkt !== request.cnfJkt) {
    throw new WritError(
      'invalid_dpop_proof',
      400,
      'DPoP header: the proof must use the key the request was made with',
    )
  }
  if (!input.cnfJkt && request.requirements.some((r) => r.requireDpop)) {
    throw invalidRequest('DPoP header: required, because a rule of this request needs a DPoP-bound token')
  }

  const now = epochSeconds(clock)
  const needsHuman = request.requirements.length > 0
  const requestedBy = request.manifest.task.requested_by
  let votes = record.votes
  if (needsHuman) {
    // Ensure a token is never minted from a vote the broker would refuse now.
    const check = await checkVotes(deps, request, record.votes)
    if (!requirementsMet(deps.policy(), request.requirements, requestedBy, check.counting)) {
      await settleDroppedVotes(deps, record, check)
    }
    votes = check.counting
    const evidence: ApprovalEvidence = {
      version: 1,
      approvalId: request.id,
      clientId: request.clientId,
      manifest: request.manifest,
      manifestSha256: request.manifestSha256,
      requirements: request.requirements,
      rpId: deps.settings.rpId,
      origin: deps.settings.origin,
      votes,
      redeemedAt: now,
    }
    // Ensure the evidence is kept before any token exists.
    await store.putEvidence(evidence, deps.settings.evidenceRetentionSeconds)
  }

  // Ensure the token for this approval is minted at most once, across replicas.
  if (!(await store.redeem(request.id))) {
    // A revocation that ended it meanwhile is told as such; anything else was a concurrent poll.
    if ((await store.getRequest(request.id))?.status === 'revoked') throw revokedAnswer()
    throw invalidGrant('redeemed concurrently')
  }

  const manifest = request.manifest
  const cnf = {
    ...(input.cnfJkt ? { cnfJkt: input.cnfJkt } : {}),
    // The token of a request made for a proven person is that person's, decided with them again.
    ...(request.person ? { person: request.person } : {}),
  }
  const approval: GrantApproval = {
    id: request.id,
    manifestSha256: request.manifestSha256,
    approvers: votes.map((v) => ({ sub: v.sub, aaguid: v.aaguid, credentialId: v.credentialId, at: v.at })),
  }
  const response = needsHuman
    ? await issueGrant(deps.issue, {
        clientId: request.clientId,
        manifest,
        approved: {
          approval,
          satisfies: (requirements) => requirementsMet(deps.policy(), requirements, requestedBy, votes),
        },
        ...cnf,
      })
    : await issueGrant(deps.issue, {
        clientId: request.clientId,
        manifest,
        whenApprovalNeeded: 'refuse',
        ...cnf,
      })

  // Ensure a revocation that reached this request while its token was being minted reaches the
  // token too. The grant is recorded before this read, and a revocation marks the request before
  // it sweeps grants, so one of the two always sees the other.
  const after = await store.getRequest(request.id)
  if (after?.revocation) {
    const reason = `approval request revoked while its token was minted: ${after.revocation.reason}`
    const at = epochSeconds(clock)
    const revoked = await revokeGrants(
      { store: deps.issue.store },
      { grantId: response.grant_id },
      { by: after.revocation.by, reason, at },
    )
    await deps.audit.note(
      grantRevokedEvent(after.revocation.by, { grantId: response.grant_id }, reason, revoked, {
        client: request.clientId,
        task: manifest.task.id,
      }),
    )
    throw revokedAnswer()
  }
  return response
}
