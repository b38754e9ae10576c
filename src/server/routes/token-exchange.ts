import type { Context } from 'hono'
import { ACCESS_TOKEN_TYPE, exchangeToken } from '../../delegation/exchange-token.js'
import { exchangeForPerson } from '../../delegation/exchange-for-person.js'
import { ID_TOKEN_TYPE, JWT_TOKEN_TYPE } from '../../delegation/verify-subject-token.js'
import { invalidRequest, WritError } from '../../errors.js'
import { parseDuration } from '../../manifest/index.js'
import { clientAddress } from '../client-address.js'
import type { AppDeps } from '../deps.js'
import { type AuthorizationDetailsCache, manifestFromTokenParams } from '../token-params.js'

/** The token exchange grant type (RFC 8693 §2.1). */
export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange'

/** Parameters of RFC 8693 §2.1 (and RFC 8707) that writ does not take with a writ subject token. */
const NOT_SUPPORTED = ['actor_token', 'actor_token_type', 'audience', 'resource'] as const

/**
 * `POST /oauth/token` with `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC
 * 8693): delegation to a sub-agent. The caller authenticates as the client that receives the
 * token; `subject_token` is the parent (a live writ access token, `subject_token_type`
 * `urn:ietf:params:oauth:token-type:access_token`); `authorization_details` the grants wanted,
 * each covered by the parent's; optional `ttl`; `subject_token_dpop` a proof of the parent's key
 * when it is DPoP-bound; a `DPoP` header binds the new token to the caller's own key. See
 * `docs/delegation.md`.
 */
export async function tokenExchangeGrant(
  deps: AppDeps,
  c: Context,
  params: Record<string, string>,
  dpopProof: string | undefined,
  detailsCache: AuthorizationDetailsCache,
  resources?: readonly string[],
): Promise<Response> {
  // RFC 9449 §8: a subject_token_dpop proof needs the server nonce too; answer with the current
  // one even when no DPoP header came (the token route adds it only for that header), so a client
  // sending only the parent's proof learns the nonce from the use_dpop_nonce refusal.
  if (params.subject_token_dpop !== undefined && dpopProof === undefined) c.header('DPoP-Nonce', deps.dpop.nonce())
  // Ensure the caller is a registered client before it learns anything about the subject token.
  const { clientId } = await deps.clients.authenticate({
    authorization: c.req.header('authorization'),
    params,
    source: clientAddress(c, deps.config.limits),
  })
  const subjectToken = params.subject_token
  if (!subjectToken) throw invalidRequest('subject_token: required (RFC 8693 §2.1)')
  const subjectType = params.subject_token_type
  if (!subjectType) throw invalidRequest('subject_token_type: required (RFC 8693 §2.1)')
  const requested = params.requested_token_type
  if (requested !== undefined && requested !== ACCESS_TOKEN_TYPE) {
    throw invalidRequest(`requested_token_type: only ${ACCESS_TOKEN_TYPE} is issued`)
  }
  if (subjectType === ID_TOKEN_TYPE || subjectType === JWT_TOKEN_TYPE) {
    return personGrant(deps, c, params, dpopProof, detailsCache, clientId, subjectToken, resources)
  }
  if (subjectType !== ACCESS_TOKEN_TYPE) {
    throw invalidRequest(
      `subject_token_type: expected ${ACCESS_TOKEN_TYPE} (a writ access token), ${ID_TOKEN_TYPE} or ` +
        `${JWT_TOKEN_TYPE} (a trusted identity provider's token naming a person)`,
    )
  }
  for (const name of NOT_SUPPORTED) {
    if (params[name] !== undefined) {
      throw invalidRequest(`${name}: not supported with token exchange; the token's audience follows its grants' locations`)
    }
  }
  // Ensure the request cannot mix OAuth scopes into task-scoped grants.
  if (params.scope !== undefined) {
    throw new WritError('invalid_scope', 400, 'scope is not used by writ; describe access with authorization_details')
  }
  if (params.authorization_details === undefined) {
    throw invalidRequest('authorization_details: required (a JSON array of RFC 9396 objects, each covered by the subject token)')
  }
  const authorizationDetails = detailsCache.parse(params.authorization_details, deps.config.limits.grants)
  const ttlSeconds = params.ttl === undefined ? undefined : parseDuration(params.ttl, 'ttl')
  const cnfJkt = await deps.dpop.verify({ header: dpopProof, method: 'POST', path: '/oauth/token' })
  const response = await exchangeToken(
    { issue: deps.issue, dpop: deps.dpop },
    {
      clientId,
      subjectToken,
      authorizationDetails,
      path: '/oauth/token',
      ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      ...(cnfJkt !== undefined ? { cnfJkt } : {}),
      ...(params.subject_token_dpop !== undefined ? { subjectProof: params.subject_token_dpop } : {}),
    },
  )
  // RFC 6749 §5.1: token responses are never cached.
  return c.json(response, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' })
}

/**
 * The exchange on behalf of a person: `subject_token` an ID token (or JWT) of a trusted issuer;
 * the task and grants as at a client-credentials request (`task_id`, `task_purpose`, `ttl`,
 * `authorization_details` and/or `scope`, `resource`), but no `requested_by`: the person is the
 * requester. Grants that need a human answer `{auth_req_id, ...}` to collect with the CIBA grant.
 */
async function personGrant(
  deps: AppDeps,
  c: Context,
  params: Record<string, string>,
  dpopProof: string | undefined,
  detailsCache: AuthorizationDetailsCache,
  clientId: string,
  subjectToken: string,
  resources: readonly string[] | undefined,
): Promise<Response> {
  for (const name of ['actor_token', 'actor_token_type', 'audience'] as const) {
    if (params[name] !== undefined) {
      throw invalidRequest(`${name}: not supported with token exchange; the client authenticates as the actor and resource names the audience`)
    }
  }
  const verifySubjectToken = deps.subjectTokens
  if (!verifySubjectToken || (deps.policy.current().issuers?.size ?? 0) === 0) {
    throw invalidRequest('subject_token_type: no identity provider is trusted here (the policy has no issuers:)')
  }
  // The exchange's own parameters are not the manifest's; the rest is read as client credentials.
  const { subject_token: _t, subject_token_type: _st, requested_token_type: _r, subject_token_dpop: dpop, ...rest } = params
  if (dpop !== undefined) throw invalidRequest('subject_token_dpop: only for a DPoP-bound writ access token as subject')
  const manifest = manifestFromTokenParams(rest, deps.config.limits.grants, detailsCache, {
    policy: deps.policy.current(),
    ...(resources ? { resources } : {}),
  })
  const cnfJkt = await deps.dpop.verify({ header: dpopProof, method: 'POST', path: '/oauth/token' })
  const response = await exchangeForPerson(
    { issue: deps.issue, verifySubjectToken },
    { clientId, subjectToken, manifest, ...(cnfJkt !== undefined ? { cnfJkt } : {}) },
  )
  // RFC 6749 §5.1: token responses are never cached. A pending approval answers 202 (as
  // /v1/tokens does) with a CIBA handle to collect the token with.
  return c.json(response, 'access_token' in response ? 200 : 202, { 'Cache-Control': 'no-store', Pragma: 'no-cache' })
}
