import { createHash, timingSafeEqual } from 'node:crypto'
import { requirementsMet } from '../approvals/requests/requirements-met.js'
import { epochSeconds } from '../clock.js'
import { invalidRequest, WritError } from '../errors.js'
import { grantRevokedEvent } from '../grants/grant-revoked-event.js'
import { issueGrant, type TokenResponse } from '../grants/issue-grant.js'
import { revokeGrants } from '../grants/revoke-grants.js'
import { lockRefusal } from '../locks/lock-refusal.js'
import { lockTarget } from '../locks/types.js'
import { manifestSha256 } from '../manifest/index.js'
import type { Manifest } from '../manifest/types.js'
import { codeRetentionSeconds } from './consent-ceremony.js'
import type { AuthorizationDeps } from './deps.js'
import type { AuthorizationCode } from './types.js'

export interface RedeemCodeInput {
  /** The token request's form parameters. */
  params: Record<string, string | undefined>
  /** Whether the request carried an `Authorization` header (a public client sends none). */
  authorization: boolean
  /** RFC 7638 thumbprint of the request's verified DPoP proof, if it carried one. */
  cnfJkt?: string | undefined
}

const CODE = /^[A-Za-z0-9_-]{43}$/
/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

/** One answer for every code that cannot be redeemed, so none can be probed (RFC 6749 §5.2). */
const invalidGrant = (detail: string): WritError =>
  new WritError('invalid_grant', 400, 'the authorization code is invalid, expired, already used, or was issued to another client or redirect URI', { detail })

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

/**
 * `grant_type=authorization_code` at the token endpoint (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3) for a
 * public client: `client_id`, `code`, `redirect_uri` and `code_verifier` are required, and no
 * client authentication is sent. An optional `resource` must be one the authorization request
 * named; the token's audience is then that one.
 *
 * The code is used up the first time it is presented, whatever follows (the grant store's
 * single-use marker, atomic across replicas). A code presented again is refused and the grant
 * issued from it, if any, is revoked (RFC 6749 §4.1.2; RFC 9700 §4.5.3.2); a redemption racing
 * the replay checks for it after recording its grant, so one of the two always sees the other.
 * Then the code must be this client's, for this redirect URI, unexpired, with
 * `BASE64URL(SHA256(code_verifier))` equal to the challenge (RFC 7636 §4.6), and with a DPoP proof
 * by the key named at the authorization request (RFC 9449 §10) when one was named.
 *
 * The token is issued through `issueGrant`: the policy decides again (a rule removed since the
 * consent refuses), locks apply (the person's too), and where a rule needs approval the consent
 * counts only if the person may still approve. The consenting key must still be unflagged.
 * `sub` is the person. No refresh token is issued.
 *
 * Audit: `authorization.code_redeemed`, `authorization.code_replayed`.
 */
export async function redeemAuthorizationCode(deps: AuthorizationDeps, input: RedeemCodeInput): Promise<TokenResponse> {
  const { params } = input
  const { approvals } = deps
  // Ensure the request is well formed before the code is looked at (and used up).
  if (input.authorization) {
    throw new WritError('invalid_client', 401, 'the authorization code flow is for public clients: send client_id and no Authorization header')
  }
  for (const name of ['client_id', 'code', 'redirect_uri', 'code_verifier'] as const) {
    if (!params[name]) throw invalidRequest(`${name}: required`)
  }
  const clientId = params.client_id!
  const client = approvals.policy().clients.get(clientId)
  if (!client || client.auth !== 'none') {
    throw new WritError('invalid_client', 401, 'client_id: not a public client of this broker')
  }
  if (!CODE_VERIFIER.test(params.code_verifier!)) {
    throw invalidRequest('code_verifier: expected 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)')
  }
  if (!CODE.test(params.code!)) throw invalidGrant('malformed code')
  const codeSha256 = sha256(params.code!).toString('hex')
  const record = await deps.store.getCode(codeSha256)
  if (!record) throw invalidGrant('unknown code')
  const retention = codeRetentionSeconds(deps)

  // Ensure a code is redeemed once, ever; a second presentation revokes what the first got.
  if (!(await deps.once.consumeOnce('authz-code', codeSha256, retention))) {
    const { grantId } = await deps.store.markReplayed(codeSha256, retention)
    const revoked = grantId ? await revokeIssued(deps, record, grantId) : 0
    await approvals.audit.note({
      type: 'authorization.code_replayed',
      actor: `client:${clientId}`,
      authorization: record.requestId,
      client: record.clientId,
      task: `authz-${record.requestId}`,
      ...(grantId ? { grant: grantId } : {}),
      reason: revoked > 0 ? 'code presented again; the grant issued from it was revoked' : 'code presented again',
    })
    throw invalidGrant('code already used')
  }

  // Ensure the code is redeemed by the client it was issued to, for the redirect URI it was sent
  // to, by whoever holds the PKCE verifier, before it expires.
  if (record.clientId !== clientId) throw invalidGrant(`code belongs to ${record.clientId}`)
  if (record.redirectUri !== params.redirect_uri) throw invalidGrant('redirect_uri differs from the authorization request')
  const presented = Buffer.from(sha256(params.code_verifier!).toString('base64url'))
  const expected = Buffer.from(record.codeChallenge)
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    throw invalidGrant('code_verifier does not match the code_challenge (PKCE)')
  }
  if (record.expiresAt <= epochSeconds(approvals.clock)) throw invalidGrant('code expired')
  // Ensure a code bound to a DPoP key at the authorization request is redeemed with that key.
  if (record.dpopJkt !== undefined && input.cnfJkt !== record.dpopJkt) {
    throw new WritError('invalid_dpop_proof', 400, 'DPoP header: the proof must use the key named by dpop_jkt in the authorization request')
  }

  // Ensure the key that consented is still good, and the person is not locked.
  const key = await approvals.store.getCredential(record.consent.credentialId)
  if (!key || key.flagged) throw invalidGrant(`the consenting key is ${key ? 'flagged' : 'no longer enrolled'}`)
  const lock = await approvals.locks.findLock([lockTarget('approver', record.consent.sub)])
  if (lock) throw lockRefusal(lock)

  // RFC 8707 §2.2: a resource named at the token request narrows the audience to it, and must be
  // one the person consented to.
  let audience = record.resources
  if (params.resource !== undefined) {
    if (!record.resources.includes(params.resource)) {
      throw new WritError('invalid_target', 400, `resource: ${JSON.stringify(params.resource.slice(0, 200))} was not named in the authorization request`)
    }
    audience = [params.resource]
  }

  const manifest: Manifest = {
    task: { id: `authz-${record.requestId}`, requested_by: record.consent.sub },
    ttlSeconds: record.ttlSeconds,
    grants: record.grants,
    ...(record.scopes ? { scopes: record.scopes } : {}),
  }
  const common = {
    clientId,
    manifest,
    subject: record.consent.sub,
    audience,
    ...(input.cnfJkt ? { cnfJkt: input.cnfJkt } : {}),
  }
  const response =
    record.requirements.length > 0
      ? await issueGrant(deps.issue, {
          ...common,
          approved: {
            approval: { id: record.requestId, manifestSha256: manifestSha256(manifest), approvers: [record.consent] },
            satisfies: (requirements) =>
              requirementsMet(approvals.policy(), requirements, record.consent.sub, [record.consent]),
          },
        })
      : await issueGrant(deps.issue, { ...common, whenApprovalNeeded: 'refuse' })

  // Ensure a replay that raced this redemption reaches the token it got.
  const { replayed } = await deps.store.linkGrant(codeSha256, response.grant_id, retention)
  if (replayed) {
    await revokeIssued(deps, record, response.grant_id)
    throw invalidGrant('code presented again while it was redeemed')
  }
  await approvals.audit.note({
    type: 'authorization.code_redeemed',
    actor: `client:${clientId}`,
    authorization: record.requestId,
    client: clientId,
    task: manifest.task.id,
    approver: record.consent.sub,
    grant: response.grant_id,
  })
  return response
}

async function revokeIssued(deps: AuthorizationDeps, record: AuthorizationCode, grantId: string): Promise<number> {
  const reason = 'authorization code presented again (RFC 6749 §4.1.2)'
  const revoked = await revokeGrants({ store: deps.grants }, { grantId }, { by: 'system', reason, at: epochSeconds(deps.approvals.clock) })
  await deps.approvals.audit.note(
    grantRevokedEvent('system', { grantId }, reason, revoked, { client: record.clientId, task: `authz-${record.requestId}` }),
  )
  return revoked
}
