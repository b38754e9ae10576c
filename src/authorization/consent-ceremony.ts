import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server'
import { createHash, randomBytes } from 'node:crypto'
import { assertionRefused } from '../approvals/approval-errors.js'
import { webauthnJson } from '../approvals/ceremony/webauthn-json.js'
import {
  advanceKeyCounter,
  claimedChallenge,
  keyRefusal,
  verifyKeyAssertion,
} from '../approvals/ceremony/verify-key-assertion.js'
import { requirementsMet } from '../approvals/requests/requirements-met.js'
import { epochSeconds } from '../clock.js'
import { WritError } from '../errors.js'
import { lockRefusal } from '../locks/lock-refusal.js'
import { lockTarget, lockTargetsOf } from '../locks/types.js'
import { authorizationRedirect } from './authorization-response.js'
import { consentChallenge } from './consent-challenge.js'
import { CODE_TTL_SECONDS, type AuthorizationDeps } from './deps.js'
import type { AuthorizationCode, AuthorizationRequest } from './types.js'

/** Where the browser goes once the person has decided. */
export interface AuthorizationDecision {
  /** The client's redirect URI with the code (or the error), `state` and `iss`. */
  redirect_to: string
}

const notFound = (): WritError =>
  new WritError('not_found', 404, 'no such authorization request (it may have expired or been decided)')

/** The pending request, or 404. */
export async function findAuthorizationRequest(deps: AuthorizationDeps, id: string): Promise<AuthorizationRequest> {
  const request = await deps.store.getRequest(id)
  if (!request) throw notFound()
  return request
}

/** The challenge for one ceremony on `request`, from its stored form and the ceremony's inputs. */
const challengeFor = (request: AuthorizationRequest, exp: number, nonce: string): string =>
  consentChallenge({
    authorization_id: request.id,
    client_id: request.clientId,
    authorization_details: request.grants,
    resource: request.resources,
    ...(request.scopes ? { scope: request.scopes } : {}),
    redirect_uri: request.redirectUri,
    code_challenge: request.codeChallenge,
    dpop_jkt: request.dpopJkt ?? null,
    exp,
    nonce,
  })

/**
 * Starts the consent ceremony (sign in and consent in one touch): a fresh nonce and expiry, the
 * challenge computed from the stored request (`consentChallenge`), stored for single use, and the
 * options for `navigator.credentials.get`. `allowCredentials` is empty: the person picks their
 * own discoverable key, and the page learns nothing about who is enrolled. User verification
 * is required.
 */
export async function startConsent(deps: AuthorizationDeps, id: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const request = await findAuthorizationRequest(deps, id)
  const { settings, clock } = deps.approvals
  const now = epochSeconds(clock)
  const nonce = randomBytes(16).toString('base64url')
  const exp = Math.min(now + settings.challengeTtlSeconds, request.expiresAt)
  const challenge = challengeFor(request, exp, nonce)
  await deps.store.putChallenge(request.id, { challenge, nonce, exp })
  return {
    challenge,
    rpId: settings.rpId,
    timeout: Math.max(1, exp - now) * 1000,
    userVerification: 'required',
    allowCredentials: [],
  }
}

/**
 * Verifies a person's consent to one authorization request and issues its code:
 *
 * 1. the challenge in clientDataJSON was issued for this request and is taken (single use);
 * 2. it equals the challenge recomputed from the stored request and the ceremony's nonce and
 *    expiry, so the assertion consents to exactly these grants, client, resources, redirect URI,
 *    PKCE challenge and DPoP key;
 * 3. an enrolled key signed it (signature, RP ID, origin, user presence and verification), its user
 *    handle is the enrolled one, and it is not flagged;
 * 4. no lock on the person, the client or the task; the key's counter moves forward (a regression
 *    flags the key);
 * 5. where the grants need a human approval, the person's own approval meets it (a member of the
 *    rule's group; a rule that needs more is refused when the request is made);
 * 6. the request is taken, atomically: it yields one code, ever.
 *
 * The code (256 random bits) is kept only as its SHA-256, lives {@link CODE_TTL_SECONDS}, and
 * is bound to the client, the redirect URI, the PKCE challenge and the DPoP key.
 * A refusal after step 3 (a person acted) is audited as `authorization.refused`; the consent as
 * `authorization.consented`, with the assertion, durably before the code leaves.
 *
 * @throws WritError `access_denied` (403) for a refused assertion or person, `not_found` (404),
 *   `invalid_request` (400) for a malformed credential.
 */
export async function submitConsent(deps: AuthorizationDeps, id: string, body: unknown): Promise<AuthorizationDecision> {
  const { approvals } = deps
  const response = webauthnJson.authentication(body)
  const request = await findAuthorizationRequest(deps, id)
  const task = `authz-${request.id}`

  // Ensure the challenge was issued for this request, and use it up whatever happens next.
  const claimed = claimedChallenge(response.response.clientDataJSON)
  const stored = await deps.store.takeChallenge(request.id, claimed)
  if (!stored) throw assertionRefused('challenge unknown for this authorization request, already used, or expired')
  // Ensure the challenge is the one this exact request, nonce and expiry produce.
  const expected = challengeFor(request, stored.exp, stored.nonce)
  if (expected !== stored.challenge || expected !== claimed) {
    throw assertionRefused('challenge does not match the one recomputed from the stored authorization request')
  }
  const { key, newCounter } = await verifyKeyAssertion(approvals, response, expected)

  // From here an enrolled key signed this request's challenge: what is refused is audited.
  const refused = async (err: WritError, reason: string): Promise<WritError> => {
    await approvals.audit.note({
      type: 'authorization.refused',
      actor: `approver:${key.sub}`,
      authorization: request.id,
      client: request.clientId,
      task,
      approver: key.sub,
      credential_id: key.id,
      reason,
    })
    return err
  }
  const refusal = keyRefusal(key, response)
  if (refusal) throw await refused(assertionRefused(refusal), refusal)
  const lock = await approvals.locks.findLock([
    lockTarget('approver', key.sub),
    ...lockTargetsOf({ clientId: request.clientId, taskId: task }),
  ])
  if (lock) throw await refused(lockRefusal(lock), `locked (lock ${lock.id}: ${lock.reason})`)
  const counterRefusal = await advanceKeyCounter(approvals, key, newCounter, { authorization: request.id })
  if (counterRefusal) throw await refused(assertionRefused(counterRefusal), counterRefusal)

  const now = epochSeconds(approvals.clock)
  const consent = { sub: key.sub, credentialId: key.id }
  // Ensure grants that need a human approval get one: this person's, where the rule lets them.
  if (
    request.requirements.length > 0 &&
    !requirementsMet(approvals.policy(), request.requirements, key.sub, [consent])
  ) {
    const rules = request.requirements.map((r) => `${r.ruleId} (${r.approvers} of ${r.from})`).join(', ')
    const reason = `not an approver of rule ${rules}`
    throw await refused(
      new WritError('access_denied', 403, `${key.sub} may not approve these grants: rule ${rules} needs an approver of its group`),
      reason,
    )
  }

  // Ensure one consent per request, across replicas.
  const taken = await deps.store.takeRequest(request.id)
  if (!taken) throw await refused(notFound(), 'the request was decided or expired meanwhile')

  const code = randomBytes(32).toString('base64url')
  const codeSha256 = createHash('sha256').update(code, 'utf8').digest('hex')
  const record: AuthorizationCode = {
    requestId: request.id,
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    grants: request.grants,
    resources: request.resources,
    ...(request.scopes ? { scopes: request.scopes } : {}),
    ttlSeconds: request.ttlSeconds,
    ...(request.dpopJkt !== undefined ? { dpopJkt: request.dpopJkt } : {}),
    requirements: request.requirements,
    consent: { sub: key.sub, aaguid: key.aaguid, credentialId: key.id, at: now },
    issuedAt: now,
    expiresAt: now + CODE_TTL_SECONDS,
  }
  await deps.store.putCode(codeSha256, record, codeRetentionSeconds(deps))
  // Ensure the consent, with the assertion that proves it, is on the record before the code leaves.
  await approvals.audit.record({
    type: 'authorization.consented',
    actor: `approver:${key.sub}`,
    authorization: request.id,
    client: request.clientId,
    task,
    approver: key.sub,
    credential_id: key.id,
    detail: {
      aaguid: key.aaguid,
      authorization_details: request.grants as never,
      resource: request.resources,
      ...(request.scopes ? { scope: request.scopes } : {}),
      redirect_uri: request.redirectUri,
      code_challenge: request.codeChallenge,
      dpop_jkt: request.dpopJkt ?? null,
      nonce: stored.nonce,
      exp: stored.exp,
      authenticator_data: response.response.authenticatorData,
      client_data_json: response.response.clientDataJSON,
      signature: response.response.signature,
      code_expires_at: record.expiresAt,
    },
  })
  approvals.logger.info('authorization consented', { authorizationId: request.id, sub: key.sub, clientId: request.clientId })
  return { redirect_to: authorizationRedirect(request.redirectUri, deps.issuer, request.state, { code }) }
}

/**
 * The person declined: the request is taken (it can no longer be consented to) and the browser
 * goes back to the client with `access_denied` (RFC 6749 §4.1.2.1). Needs no key: declining gives
 * nobody anything.
 */
export async function declineAuthorization(deps: AuthorizationDeps, id: string): Promise<AuthorizationDecision> {
  const request = await deps.store.takeRequest(id)
  if (!request) throw notFound()
  await deps.approvals.audit.note({
    type: 'authorization.denied',
    actor: 'anonymous',
    authorization: request.id,
    client: request.clientId,
    task: `authz-${request.id}`,
    reason: 'the person declined on the consent page',
  })
  const error = new WritError('access_denied', 403, 'the person declined the authorization request')
  return { redirect_to: authorizationRedirect(request.redirectUri, deps.issuer, request.state, { error }) }
}

/**
 * How long a code's record is kept: its own life plus the longest a token issued from it can live,
 * so a code presented again can still revoke that token (RFC 6749 §4.1.2).
 */
export const codeRetentionSeconds = (deps: AuthorizationDeps): number =>
  CODE_TTL_SECONDS + deps.issue.tokens.maxTtlSeconds
