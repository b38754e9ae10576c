import type { Context } from 'hono'
import { ASSERTION_ALGORITHMS } from '../../client-auth/index.js'
import type { AppDeps } from '../deps.js'

/** `GET /.well-known/oauth-authorization-server` (RFC 8414). */
export function metadataRoute(deps: AppDeps) {
  const iss = deps.config.issuer
  const types = [...new Set(deps.policy.current().rules.map((r) => r.match.type))].sort()
  const authMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt']
  const assertionAlgs = [...ASSERTION_ALGORITHMS]
  const body = {
    issuer: iss,
    token_endpoint: `${iss}/oauth/token`,
    jwks_uri: `${iss}/.well-known/jwks.json`,
    introspection_endpoint: `${iss}/oauth/introspect`,
    revocation_endpoint: `${iss}/oauth/revoke`,
    // The authorization code flow for public clients (OAuth 2.1: PKCE with S256 only).
    authorization_endpoint: `${iss}/oauth/authorize`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    code_challenge_methods_supported: ['S256'],
    // RFC 9207: every authorization response carries iss.
    authorization_response_iss_parameter_supported: true,
    grant_types_supported: [
      'client_credentials',
      'urn:openid:params:grant-type:ciba',
      'authorization_code',
      'urn:ietf:params:oauth:grant-type:token-exchange',
    ],
    // CIBA (poll mode, OAuth-only profile): requests that may need a human approval.
    backchannel_authentication_endpoint: `${iss}/oauth/bc-authorize`,
    backchannel_token_delivery_modes_supported: ['poll'],
    backchannel_user_code_parameter_supported: false,
    // `none`: public clients, for the authorization code grant only (RFC 8414 §2, RFC 7591 §2).
    token_endpoint_auth_methods_supported: [...authMethods, 'none'],
    token_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    introspection_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    revocation_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    authorization_details_types_supported: types,
    // RFC 9449 §5.1: the token endpoints accept DPoP proofs signed with these algorithms.
    dpop_signing_alg_values_supported: [...deps.dpop.algorithms],
    service_documentation: `${iss}/openapi.yaml`,
    // The policy's scopes: plain OAuth clients may ask with scope (and resource, RFC 8707).
    scopes_supported: [...deps.policy.current().scopes.keys()],
  }
  return (c: Context): Response => c.json(body, 200, { 'Cache-Control': 'public, max-age=300' })
}

/**
 * `GET /.well-known/jwks.json` (RFC 7517): next, current and previous public keys. Short cache,
 * because the next key is published a full rotation period before it signs anything.
 */
export function jwksRoute(deps: AppDeps) {
  return (c: Context): Response => c.json(deps.keys.jwks(), 200, { 'Cache-Control': 'public, max-age=60' })
}
