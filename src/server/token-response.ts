import type { Context } from 'hono'
import type { TokenResponse } from '../grants/issue-grant.js'

/** RFC 6749 §5.1: token responses are never cached. */
export function tokenResponse(c: Context, body: TokenResponse): Response {
  return c.json(body, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' })
}
