import { type Clock, epochSeconds } from '../clock.js'
import { randomId } from '../random-id.js'
import { accessDenied } from '../errors.js'
import { manifestSha256 } from '../manifest/index.js'
import type { Manifest } from '../manifest/types.js'
import { decide, type Policy } from '../policy/index.js'
import { audienceFor, mintAccessToken, scopeFor, type KeyManager } from '../tokens/index.js'
import type { Grant } from './grant.js'
import type { GrantStore } from './store.js'

export interface IssueGrantDeps {
  policy: Policy
  store: GrantStore
  keys: KeyManager
  issuer: string
  tokens: { maxTtlSeconds: number; defaultTtlSeconds: number; defaultAudience: string }
  clock: Clock
}

export interface IssueGrantRequest {
  clientId: string
  manifest: Manifest
  /** RFC 7638 thumbprint of a verified DPoP proof key, when the request carried one. */
  cnfJkt?: string
}

/** RFC 6749 §5.1 token response, with RFC 9396's `authorization_details`. */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  scope: string
  authorization_details: Manifest['grants']
  /** writ extension: the grant id (the token's `jti`), for revocation and audit. */
  grant_id: string
}

/**
 * Turns an authenticated client's manifest into a recorded grant and a signed token.
 *
 * The order is the security argument: the policy decides first (default deny), the grant is
 * recorded in the store second (so it is revocable and counted against the client's quota), and
 * only then is a token signed. A store failure throws before any token exists.
 */
export async function issueGrant(deps: IssueGrantDeps, req: IssueGrantRequest): Promise<TokenResponse> {
  const { policy, store, keys, clock } = deps

  // Ensure every grant is covered by a rule this client may use (throws access_denied otherwise).
  const decision = decide(policy, req.clientId, req.manifest, deps.tokens)

  // Ensure nothing that needs a human is minted without one.
  if (decision.approval) {
    const needs = decision.grants
      .filter((g) => g.approval)
      .map((g) => `grants[${g.index}] (rule ${g.ruleId}: ${g.approval!.approvers} approver(s) from ${g.approval!.from})`)
    throw accessDenied(
      `${needs.join(', ')} need${needs.length === 1 ? 's' : ''} human approval, which this broker does not offer yet; remove ${needs.length === 1 ? 'that grant' : 'those grants'} or ask an admin`,
    )
  }

  const now = epochSeconds(clock)
  const grant: Grant = {
    id: randomId(),
    clientId: req.clientId,
    task: req.manifest.task,
    manifestSha256: manifestSha256(req.manifest),
    authorizationDetails: req.manifest.grants,
    ruleIds: decision.grants.map((g) => g.ruleId),
    ...(req.cnfJkt ? { cnfJkt: req.cnfJkt } : {}),
    issuedAt: now,
    expiresAt: now + decision.ttlSeconds,
  }

  // Ensure the grant is recorded (and within the client's live-grant quota) before any token exists.
  const client = policy.clients.get(req.clientId)
  await store.createGrant(grant, client?.maxLiveGrants ? { maxLiveGrants: client.maxLiveGrants } : {})

  const scope = scopeFor(grant.authorizationDetails)
  const accessToken = await mintAccessToken({
    key: keys.signingKey(),
    issuer: deps.issuer,
    audience: audienceFor(grant.authorizationDetails, deps.tokens.defaultAudience),
    grant,
    scope,
    clock,
  })
  return {
    access_token: accessToken,
    token_type: grant.cnfJkt ? 'DPoP' : 'Bearer',
    expires_in: grant.expiresAt - now,
    scope,
    authorization_details: grant.authorizationDetails,
    grant_id: grant.id,
  }
}
