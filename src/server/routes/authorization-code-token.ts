import type { Context } from 'hono'
import { redeemAuthorizationCode } from '../../authorization/index.js'
import type { AppDeps } from '../deps.js'
import { tokenResponse } from '../token-response.js'

/**
 * `POST /oauth/token` with `grant_type=authorization_code` (RFC 6749 §4.1.3, PKCE RFC 7636 §4.5):
 * a public client redeems its code. A `DPoP` proof binds the token to its key (RFC 9449 §5), and
 * must, when the authorization request named `dpop_jkt`.
 */
export async function authorizationCodeGrant(
  deps: AppDeps,
  c: Context,
  params: Record<string, string>,
  dpopProof: string | undefined,
): Promise<Response> {
  const cnfJkt = await deps.dpop.verify({ header: dpopProof, method: 'POST', path: '/oauth/token' })
  const response = await redeemAuthorizationCode(deps.authorization, {
    params,
    authorization: c.req.header('authorization') !== undefined,
    cnfJkt,
  })
  return tokenResponse(c, response)
}
