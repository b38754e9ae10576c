import type {
  AuthenticatorTransportFuture,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server'
import { randomBytes } from 'node:crypto'
import { epochSeconds } from '../../clock.js'
import { WritError } from '../../errors.js'
import { approvalChallenge } from './approval-challenge.js'
import { approvalClosed, approvalNotFound, effectiveStatus } from '../approval-errors.js'
import type { ApprovalDeps } from '../deps.js'
import { noteApprovalExpired } from '../requests/note-approval-expired.js'
import { eligibleRequirements } from '../requests/eligible-requirements.js'
import { isApproverFor } from '../requests/is-approver-for.js'

export interface StartApprovalCeremonyInput {
  approvalId: string
  action: 'approve' | 'deny'
}

/**
 * Starts a WebAuthn assertion ceremony to approve or deny one pending request: a fresh nonce and
 * expiry, the challenge computed from the stored request (see `approvalChallenge`), stored
 * server-side for single use, and the options the browser passes to `navigator.credentials.get`.
 *
 * `allowCredentials` lists the unflagged keys of everyone who may take this decision now: for
 * `approve`, members of the rules' approver groups who have not approved yet (minus the requester
 * where self-approval is forbidden); for `deny`, every member. User verification is required.
 *
 * @throws WritError `not_found` (404), `invalid_request` (409) when the request takes no more
 *   decisions or nobody who may take this one has enrolled a key.
 */
export async function startApprovalCeremony(
  deps: ApprovalDeps,
  input: StartApprovalCeremonyInput,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { store, settings } = deps
  const policy = deps.policy()
  const record = await store.getRequest(input.approvalId)
  if (!record) throw approvalNotFound()
  const status = effectiveStatus(record, deps.clock())
  if (status === 'expired') await noteApprovalExpired(deps, record)
  if (status !== 'pending') throw approvalClosed(status)
  const { request } = record
  const requestedBy = request.manifest.task.requested_by
  const voted = new Set(record.votes.map((v) => v.sub))

  const members = new Set<string>()
  for (const requirement of request.requirements) {
    for (const member of policy.approverGroups.get(requirement.from)?.members ?? []) members.add(member)
  }
  const deciders = [...members].filter((sub) =>
    input.action === 'approve'
      ? !voted.has(sub) && eligibleRequirements(policy, request.requirements, requestedBy, sub).length > 0
      : isApproverFor(policy, request.requirements, sub),
  )
  const keys = (await Promise.all(deciders.map((sub) => store.listCredentials({ sub })))).flat()
  const usable = keys.filter((key) => !key.flagged)
  if (usable.length === 0) {
    throw new WritError(
      'invalid_request',
      409,
      `no one who may ${input.action} this request has an enrolled security key`,
    )
  }

  const now = epochSeconds(deps.clock)
  const nonce = randomBytes(16).toString('base64url')
  const exp = Math.min(now + settings.challengeTtlSeconds, request.expiresAt)
  const challenge = approvalChallenge({
    approval_id: request.id,
    manifest_sha256: request.manifestSha256,
    authorization_details: request.manifest.grants,
    client_id: request.clientId,
    exp,
    nonce,
  })
  await store.putChallenge(request.id, { challenge, nonce, exp, action: input.action })

  return {
    challenge,
    rpId: settings.rpId,
    timeout: Math.max(1, exp - now) * 1000,
    userVerification: 'required',
    allowCredentials: usable.map((key) => ({
      id: key.id,
      type: 'public-key' as const,
      ...(key.transports ? { transports: key.transports as AuthenticatorTransportFuture[] } : {}),
    })),
  }
}
