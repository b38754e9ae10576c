import { epochSeconds } from '../clock.js'
import { accessDenied, invalidRequest, WritError } from '../errors.js'
import { assertUnlocked } from '../locks/assert-unlocked.js'
import { lockTargetsOf } from '../locks/types.js'
import { decide } from '../policy/index.js'
import { matchRedirectUri } from '../policy/redirect-uri.js'
import { randomId } from '../random-id.js'
import { authorizationRedirect } from './authorization-response.js'
import type { AuthorizationDeps } from './deps.js'
import { requestedGrants } from './requested-grants.js'
import type { AuthorizationRequest } from './types.js'

/** Query parameters as they arrived: every value of each name. */
export type AuthorizationParams = Readonly<Record<string, readonly string[]>>

/** Where `GET /oauth/authorize` goes next. */
export type AuthorizationStart =
  /** A valid request, stored: show the consent page. */
  | { outcome: 'consent'; request: AuthorizationRequest }
  /**
   * The client or the redirect URI could not be trusted: show the error on a page, never redirect
   * (RFC 6749 §4.1.2.1), so the endpoint cannot be used to send people anywhere.
   */
  | { outcome: 'error_page'; error: WritError }
  /** Anything else refused: back to the client's redirect URI with the error. */
  | { outcome: 'redirect'; location: string; error: WritError }

/** RFC 7636 §4.2: S256 of a verifier is 32 bytes, 43 base64url characters. */
const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/
/** RFC 7638 thumbprint (SHA-256, base64url). */
const JKT = /^[A-Za-z0-9_-]{43}$/
/** Printable ASCII (RFC 6749 Appendix A.5 allows %x20-7E in `state`). */
const STATE = /^[\x20-\x7e]{1,1024}$/
/** Parameters that may be sent more than once (RFC 8707 §2). */
const REPEATABLE = new Set(['resource'])

/**
 * Validates an authorization request (RFC 6749 §4.1.1, OAuth 2.1 with PKCE, RFC 9396 §3, RFC 8707,
 * RFC 9449 §10) from a public client of the policy, and stores it for the person's consent.
 *
 * The client and the redirect URI come first: until both are known good, an error is shown on a
 * page. After that every refusal goes back to the client (with `state` and `iss`). In order:
 * no parameter twice (RFC 6749 §3.1) and no request object (RFC 9101, not supported);
 * `response_type=code`; PKCE with `code_challenge_method=S256` only (`plain` and a missing challenge
 * refused); the grants (`requestedGrants`) allowed to this client by the policy; rules that need
 * more than the consenting person's own approval refused (see docs/authorization-code.md);
 * `dpop_jkt` required when a rule needs a DPoP-bound token; the client and no lock on it.
 */
export async function startAuthorization(
  deps: AuthorizationDeps,
  params: AuthorizationParams,
): Promise<AuthorizationStart> {
  const policy = deps.approvals.policy()
  const one = (name: string): string | undefined => params[name]?.[0]
  const page = (message: string): AuthorizationStart => ({ outcome: 'error_page', error: invalidRequest(message) })

  // Ensure the client is one of the policy's public clients, named once.
  const clientIds = params.client_id ?? []
  if (clientIds.length !== 1) return page(clientIds.length === 0 ? 'client_id: required' : 'client_id: given more than once')
  const clientId = clientIds[0]!
  const client = policy.clients.get(clientId)
  if (!client) return { outcome: 'error_page', error: new WritError('invalid_client', 400, `client_id: unknown client ${JSON.stringify(clientId.slice(0, 200))}`) }
  if (client.auth !== 'none') {
    return {
      outcome: 'error_page',
      error: new WritError('unauthorized_client', 400, `client_id: ${clientId} is not a public client (auth: none with redirect_uris); it cannot use the authorization code flow`),
    }
  }
  // Ensure the code can only go where the client registered, compared exactly.
  const redirectUris = params.redirect_uri ?? []
  if (redirectUris.length !== 1) {
    return page(redirectUris.length === 0 ? 'redirect_uri: required' : 'redirect_uri: given more than once')
  }
  const redirectUri = redirectUris[0]!
  if (!matchRedirectUri(client.redirectUris, redirectUri)) {
    return page(`redirect_uri: not one registered for client ${clientId}`)
  }

  // From here, errors go back to the client.
  const stateValues = params.state ?? []
  const state = stateValues.length === 1 && STATE.test(stateValues[0]!) ? stateValues[0] : undefined
  const back = (error: WritError): AuthorizationStart => ({
    outcome: 'redirect',
    location: authorizationRedirect(redirectUri, deps.issuer, state, { error }),
    error,
  })
  try {
    const request = await validate(deps, params, clientId, redirectUri, state, one)
    await deps.store.putRequest(request)
    await deps.approvals.audit.note({
      type: 'authorization.requested',
      actor: `client:${clientId}`,
      authorization: request.id,
      client: clientId,
      task: `authz-${request.id}`,
      detail: {
        redirect_uri: redirectUri,
        grants: request.grants.length,
        resources: request.resources,
        rules: request.requirements.map((r) => r.ruleId),
      },
    })
    return { outcome: 'consent', request }
  } catch (err) {
    if (err instanceof WritError && err.status < 500) return back(err)
    throw err
  }
}

async function validate(
  deps: AuthorizationDeps,
  params: AuthorizationParams,
  clientId: string,
  redirectUri: string,
  state: string | undefined,
  one: (name: string) => string | undefined,
): Promise<AuthorizationRequest> {
  const { clock, settings } = deps.approvals
  const policy = deps.approvals.policy()
  for (const [name, values] of Object.entries(params)) {
    if (values.length > 1 && !REPEATABLE.has(name)) throw invalidRequest(`${name}: given more than once (RFC 6749 §3.1)`)
  }
  if (params.state !== undefined && state === undefined) throw invalidRequest('state: expected at most 1024 printable ASCII characters')
  if (params.request !== undefined || params.request_uri !== undefined) {
    throw invalidRequest('request, request_uri: request objects (RFC 9101) are not supported; send the parameters themselves')
  }
  const responseType = one('response_type')
  if (responseType === undefined) throw invalidRequest('response_type: required (code)')
  if (responseType !== 'code') {
    throw new WritError('unsupported_response_type', 400, `response_type: only code is supported (got ${JSON.stringify(responseType.slice(0, 50))})`)
  }
  // Ensure PKCE with S256 (OAuth 2.1 §4.1.1): without it a stolen code could be redeemed.
  const codeChallenge = one('code_challenge')
  if (codeChallenge === undefined) throw invalidRequest('code_challenge: required (PKCE, RFC 7636, with S256)')
  const method = one('code_challenge_method')
  if (method !== 'S256') {
    throw invalidRequest(`code_challenge_method: must be S256${method === undefined ? ' (the default, plain, is not accepted)' : ` (got ${JSON.stringify(method.slice(0, 20))})`}`)
  }
  if (!CODE_CHALLENGE.test(codeChallenge)) throw invalidRequest('code_challenge: expected 43 base64url characters (the S256 of the verifier)')
  const dpopJkt = one('dpop_jkt')
  if (dpopJkt !== undefined && !JKT.test(dpopJkt)) throw invalidRequest('dpop_jkt: expected an RFC 7638 SHA-256 thumbprint (43 base64url characters)')

  const { grants, resources, scopes } = requestedGrants(
    { authorization_details: one('authorization_details'), scope: one('scope'), resource: params.resource ?? [] },
    { maxGrants: deps.maxGrants, policy },
  )
  // Ensure type-specific grants (aws, mcp) are well formed before a person is asked about them.
  for (const validate of deps.issue.validateDetails) validate(grants)
  const id = randomId()
  const task = { id: `authz-${id}` }
  // Ensure every grant is covered by a rule this client may use, and every resource by a grant
  // or its rule (throws access_denied / invalid_target otherwise).
  const decision = decide(
    policy,
    clientId,
    { task, grants, ...(resources.length > 0 ? { resources } : {}) },
    deps.issue.tokens,
  )
  const requirements = decision.approval?.requirements ?? []
  // Ensure rules that need more than the person's own approval are not offered: the consent can
  // count as one approval, of a member of the rule's group, where the rule lets the requester
  // approve (the person consenting is the requester).
  const beyond = requirements.filter((r) => r.approvers > 1 || r.forbidSelfApproval)
  if (beyond.length > 0) {
    throw accessDenied(
      `${beyond.map((r) => `rule ${r.ruleId} needs ${r.approvers} approver(s) from ${r.from}${r.forbidSelfApproval ? ' other than the requester' : ''}`).join('; ')}: ` +
        'a consent counts only as the person\'s own approval; ask through CIBA (POST /oauth/bc-authorize) instead',
    )
  }
  if (decision.requireDpop && dpopJkt === undefined) {
    throw invalidRequest('dpop_jkt: required, because a rule of these grants needs a DPoP-bound token (RFC 9449 §10)')
  }
  // Ensure a locked client cannot even ask a person.
  await assertUnlocked(deps.approvals.locks, lockTargetsOf({ clientId, taskId: task.id }))

  const now = epochSeconds(clock)
  return {
    id,
    clientId,
    redirectUri,
    ...(state !== undefined ? { state } : {}),
    codeChallenge,
    grants,
    resources,
    ...(scopes ? { scopes } : {}),
    ttlSeconds: decision.ttlSeconds,
    ...(dpopJkt !== undefined ? { dpopJkt } : {}),
    requirements,
    createdAt: now,
    expiresAt: now + settings.timeoutSeconds,
  }
}
