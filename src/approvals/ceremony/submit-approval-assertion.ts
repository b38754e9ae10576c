import { epochSeconds } from '../../clock.js'
import { WritError } from '../../errors.js'
import { lockRefusal } from '../../locks/lock-refusal.js'
import { lockTarget, lockTargetsOf } from '../../locks/types.js'
import { manifestSha256 } from '../../manifest/index.js'
import { approvalChallenge } from './approval-challenge.js'
import { approvalClosed, approvalNotFound, assertionRefused, effectiveStatus } from '../approval-errors.js'
import { checkVotes } from '../requests/check-votes.js'
import type { ApprovalDeps } from '../deps.js'
import { noteApprovalExpired } from '../requests/note-approval-expired.js'
import { eligibleRequirements } from '../requests/eligible-requirements.js'
import { isApproverFor } from '../requests/is-approver-for.js'
import { requirementsMet } from '../requests/requirements-met.js'
import { advanceKeyCounter, claimedChallenge, keyRefusal, verifyKeyAssertion } from './verify-key-assertion.js'
import type { ApprovalStatus, ApprovalVote } from '../types.js'
import { webauthnJson } from './webauthn-json.js'

export interface SubmitApprovalAssertionInput {
  approvalId: string
  action: 'approve' | 'deny'
  /** The browser's `PublicKeyCredential` JSON, unvalidated. */
  response: unknown
}

/** Where the request stands after the decision was recorded. */
export interface ApprovalProgress {
  status: ApprovalStatus
  /** The approver whose key signed. */
  approver: string
  /** Approvals recorded so far. */
  approvals: number
}

/** Most attempts at recording a vote when other approvers' votes keep arriving in between. */
const MAX_VOTE_ATTEMPTS = 5

/**
 * Verifies a WebAuthn assertion made to approve or deny one approval request, and records the
 * decision. The checks, in order (each failure refuses the assertion; nothing is recorded):
 *
 * 1. the challenge named in clientDataJSON was issued for this request and this action, and is
 *    taken from the store atomically (single use: a replay finds nothing);
 * 2. it equals the challenge recomputed from the stored request, the stored manifest's hash and
 *    the challenge's nonce and expiry (an assertion for request A cannot approve request B);
 * 3. the request is pending and unexpired, and the key is enrolled;
 * 4. the signature is in its one encoding (DER for ECDSA) and verifies under the enrolled public
 *    key, over authenticator data for this RP ID with user presence and user verification, and
 *    client data of type `webauthn.get` from this origin (and the user handle, if any, is the
 *    enrolled one);
 * 5. the key is unflagged and belongs to a person who may take this decision (group member; not
 *    the requester where self-approval is forbidden);
 * 6. the signature counter moves forward (atomically; a regression flags the key);
 * 7. approve: the vote is added unless this person or this key already approved (N-of-M counts
 *    people and keys once); the request becomes approved when every rule's count is met by the
 *    votes that still count (earlier votes whose key is flagged or whose person left the group do
 *    not).
 *    deny: the request becomes denied.
 *
 * Audit: each approval is recorded (`approval.approved`, `complete` when it completed the
 * request) before the approver is told it counted: when the log cannot be written the approver
 * gets a 503, though the vote stands (the token's `grant.issued` event names every approver in
 * any case). A denial is noted (`approval.denied`). A refusal after step 4 — an enrolled key's
 * own signature, so a person acted — is noted as `approval.rejected` (and a counter regression
 * as `approver.key_flagged` too); refusals before it come from anyone and are not audited.
 *
 * @throws WritError `access_denied` (403) for any refused assertion (reason in `detail`),
 *   `not_found` (404), `invalid_request` (400 bad JSON, 409 the request is closed).
 */
export async function submitApprovalAssertion(
  deps: ApprovalDeps,
  input: SubmitApprovalAssertionInput,
): Promise<ApprovalProgress> {
  const { store, clock } = deps
  const policy = deps.policy()
  const response = webauthnJson.authentication(input.response)

  const record = await store.getRequest(input.approvalId)
  if (!record) throw approvalNotFound()
  const { request } = record

  // Ensure the challenge was issued for this request, and use it up whatever happens next.
  const claimed = claimedChallenge(response.response.clientDataJSON)
  const stored = await store.takeChallenge(request.id, claimed)
  if (!stored) throw assertionRefused('challenge unknown for this request, already used, or expired')
  // Ensure a challenge started for one decision cannot make the other.
  if (stored.action !== input.action) {
    throw assertionRefused(`challenge was issued to ${stored.action}, not to ${input.action}`)
  }
  // Ensure the stored manifest still hashes to what the request recorded.
  const manifestHash = manifestSha256(request.manifest)
  if (manifestHash !== request.manifestSha256) {
    throw new WritError('server_error', 500, 'approval request integrity check failed', {
      detail: `stored manifest hashes to ${manifestHash}, request says ${request.manifestSha256}`,
    })
  }
  // Ensure the challenge is the one this exact request, manifest, nonce and expiry produce.
  const expected = approvalChallenge({
    approval_id: request.id,
    manifest_sha256: manifestHash,
    authorization_details: request.manifest.grants,
    client_id: request.clientId,
    exp: stored.exp,
    nonce: stored.nonce,
  })
  if (expected !== stored.challenge || expected !== claimed) {
    throw assertionRefused('challenge does not match the one recomputed from the stored request')
  }

  const status = effectiveStatus(record, clock())
  if (status === 'expired') await noteApprovalExpired(deps, record)
  if (status !== 'pending') throw approvalClosed(status)

  // Ensure an enrolled key signed exactly this challenge (signature, RP ID, origin, UP, UV).
  const { key, newCounter } = await verifyKeyAssertion(deps, response, expected)
  // From here an enrolled key signed this request's challenge: what is refused is audited.
  const who = {
    approval: request.id,
    approver: key.sub,
    credential_id: key.id,
    aaguid: key.aaguid,
    task: request.manifest.task.id,
    client: request.clientId,
  }
  const actor = `approver:${key.sub}` as const
  const rejected = async (err: WritError, reason: string): Promise<WritError> => {
    await deps.audit.note({ type: 'approval.rejected', actor, ...who, reason, detail: { action: input.action } })
    return err
  }

  // Ensure the user handle, when the authenticator returned one, is the one enrolled with the
  // key, and the key is not flagged (a cloned, lost or stolen key).
  const refusal = keyRefusal(key, response)
  if (refusal) {
    const message = key.flagged && !refusal.startsWith('userHandle') ? `credential ${key.id} ${refusal}` : refusal
    throw await rejected(assertionRefused(message), refusal)
  }

  // Ensure a locked approver's vote counts for nothing, and nobody approves for a locked client
  // or task (a denial of theirs still stands).
  const lockTargets = lockTargetsOf({ clientId: request.clientId, taskId: request.manifest.task.id })
  const lock = await deps.locks.findLock([
    lockTarget('approver', key.sub),
    ...(input.action === 'approve' ? lockTargets : []),
  ])
  if (lock) throw await rejected(lockRefusal(lock), `locked (lock ${lock.id}: ${lock.reason})`)

  const requestedBy = request.manifest.task.requested_by
  // Ensure the key's owner may take this decision on this request.
  if (input.action === 'approve') {
    if (eligibleRequirements(policy, request.requirements, requestedBy, key.sub).length === 0) {
      const self = isApproverFor(policy, request.requirements, key.sub)
      const message = self
        ? `${key.sub} asked for this task and may not approve it (the rule forbids self-approval)`
        : `${key.sub} is not an approver for this request`
      const reason = self ? 'self-approval is forbidden by the rule' : 'not an approver for this request'
      throw await rejected(new WritError('access_denied', 403, message), reason)
    }
  } else if (!isApproverFor(policy, request.requirements, key.sub)) {
    const message = `${key.sub} is not an approver for this request`
    throw await rejected(new WritError('access_denied', 403, message), 'not an approver for this request')
  }

  const now = epochSeconds(clock)
  // Ensure the counter moves forward; a regression means a cloned key: refuse and flag it.
  const counterRefusal = await advanceKeyCounter(deps, key, newCounter, { approval: request.id })
  if (counterRefusal) throw await rejected(assertionRefused(counterRefusal), counterRefusal)

  if (input.action === 'deny') {
    const denied = await store.deny(request.id, { sub: key.sub, credentialId: key.id, at: now })
    if (denied.outcome === 'closed') throw approvalClosed(denied.status)
    deps.logger.info('approval denied', { approvalId: request.id, sub: key.sub, credentialId: key.id })
    await deps.audit.note({ type: 'approval.denied', actor, ...who })
    return { status: 'denied', approver: key.sub, approvals: record.votes.length }
  }

  const vote: ApprovalVote = {
    sub: key.sub,
    credentialId: key.id,
    aaguid: key.aaguid,
    fmt: key.fmt,
    publicKey: key.publicKey,
    nonce: stored.nonce,
    exp: stored.exp,
    authenticatorData: response.response.authenticatorData,
    clientDataJSON: response.response.clientDataJSON,
    signature: response.response.signature,
    ...(response.response.userHandle ? { userHandle: response.response.userHandle } : {}),
    counter: newCounter,
    at: now,
  }
  let votes = record.votes
  for (let attempt = 0; attempt < MAX_VOTE_ATTEMPTS; attempt++) {
    // Ensure only votes the broker would still accept now count toward completing the request.
    const { counting } = await checkVotes(deps, request, votes)
    const completes = requirementsMet(policy, request.requirements, requestedBy, [...counting, vote])
    // Ensure one person and one key count once, and that the vote lands on the votes we counted.
    const added = await store.addVote(request.id, vote, { expectedVotes: votes.length, completes })
    switch (added.outcome) {
      case 'recorded':
        deps.logger.info('approval recorded', {
          approvalId: request.id,
          sub: key.sub,
          credentialId: key.id,
          status: added.status,
        })
        // Ensure the approval is on the audit record before the approver is told it counted.
        await deps.audit.record({
          type: 'approval.approved',
          actor,
          ...who,
          manifest_sha256: request.manifestSha256,
          complete: added.status === 'approved',
          detail: { approvals: votes.length + 1 },
        })
        return { status: added.status, approver: key.sub, approvals: votes.length + 1 }
      case 'duplicate_approver':
        throw await rejected(
          new WritError(
            'access_denied',
            403,
            `${key.sub} has already approved this request; the rule needs a different approver`,
          ),
          'this person has already approved this request',
        )
      case 'duplicate_key':
        throw await rejected(
          new WritError('access_denied', 403, 'this security key has already approved this request'),
          'this key has already approved this request',
        )
      case 'closed':
        throw approvalClosed(added.status)
      case 'conflict': {
        const fresh = await store.getRequest(request.id)
        if (!fresh) throw approvalNotFound()
        votes = fresh.votes
      }
    }
  }
  throw new WritError('temporarily_unavailable', 503, 'too many concurrent approvals; retry', {
    retryAfterSeconds: 1,
  })
}
