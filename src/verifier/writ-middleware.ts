import type { Context, MiddlewareHandler } from 'hono'
import type { AuthorizeRequest } from './authorize.js'
import type { Verifier } from './create-verifier.js'
import type { AccessTokenClaims } from './types.js'
import { VerifierError } from './verifier-error.js'

/**
 * What the middleware puts on the hono context: `c.get('writClaims')`.
 *
 * @example
 * ```ts
 * const app = new Hono<{ Variables: WritVariables }>()
 * ```
 */
export type WritVariables = { writClaims: AccessTokenClaims }

/**
 * Options of {@link writMiddleware}.
 *
 * @example
 * ```ts
 * writMiddleware(verifier, {
 *   // No location: checked at the verifier's audience (a grant for another service never counts).
 *   authorize: (c) => ({ type: 'repo', action: 'read', resource: { identifier: c.req.path.slice(1) } }),
 *   url: (c) => `https://api.example.com${c.req.path}`,
 * })
 * ```
 */
export interface WritMiddlewareOptions {
  /**
   * What the request wants to do, checked with `verifier.authorize` after the token verified:
   * a 403 `insufficient_scope` when no grant covers it. Without `resource.location` it is checked
   * at the verifier's audience. Return undefined to skip the check.
   */
  authorize?: (c: Context) => AuthorizeRequest | undefined
  /** The URL the client called, when a proxy rewrote it (the DPoP proof's `htu` names it). */
  url?: (c: Context) => string
}

/**
 * hono middleware: verifies the request's access token (and DPoP proof), optionally authorizes
 * the request against the token's grants, and stores the claims as `c.get('writClaims')`.
 * Refusals answer at once with the status, `WWW-Authenticate` challenge (RFC 6750 / RFC 9449)
 * and a JSON body; other errors propagate to the app's error handler.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { createVerifier, writMiddleware, type WritVariables } from 'writ/verifier'
 *
 * const app = new Hono<{ Variables: WritVariables }>()
 * app.use('/docs/*', writMiddleware(verifier, {
 *   authorize: (c) => ({
 *     type: 'repo',
 *     action: c.req.method === 'GET' ? 'read' : 'write',
 *     resource: { location: 'https://git.example.com/acme/app', identifier: c.req.path.slice(1) },
 *   }),
 * }))
 * app.get('/docs/*', (c) => c.text(`hello ${c.get('writClaims').client_id}`))
 * ```
 */
export function writMiddleware(
  verifier: Verifier,
  options: WritMiddlewareOptions = {},
): MiddlewareHandler<{ Variables: WritVariables }> {
  return async (c, next) => {
    let claims: AccessTokenClaims
    try {
      const url = options.url?.(c)
      claims = await verifier.verifyRequest(c.req.raw, url === undefined ? {} : { url })
      const wanted = options.authorize?.(c)
      if (wanted !== undefined) verifier.authorize(claims, wanted)
    } catch (err) {
      if (err instanceof VerifierError) return verifier.errorResponse(err)
      throw err
    }
    c.set('writClaims', claims)
    await next()
    // Hand out the next nonce with every DPoP answer, so clients never need a retry (§8.2).
    const nonce = claims.cnf ? verifier.dpopNonce() : undefined
    if (nonce !== undefined) c.res.headers.set('DPoP-Nonce', nonce)
    return undefined
  }
}
