import type { AccessTokenClaims } from '../types.js'

/**
 * What the MCP SDK's transports hand to tool handlers as `extra.authInfo` (the SDK's `AuthInfo`,
 * typed here structurally so `writ/verifier` does not depend on the SDK): the token, its client,
 * scopes, expiry and resource, and the verified writ claims under `extra.writ`.
 *
 * @example
 * ```ts
 * server.registerTool('whoami', {}, async (_args, extra) => {
 *   const claims = writClaimsOf(extra.authInfo)
 *   return { content: [{ type: 'text', text: `${claims?.client_id} for task ${claims?.task?.id}` }] }
 * })
 * ```
 */
export interface McpAuthInfo {
  token: string
  clientId: string
  scopes: string[]
  /** Seconds since the epoch. */
  expiresAt: number
  /** The resource (this server) the token was checked for. */
  resource: URL
  extra: { writ: AccessTokenClaims }
}

/**
 * The `AuthInfo` for a verified token at `resource`.
 *
 * @example
 * ```ts
 * req.auth = mcpAuthInfo(claims, token, 'https://mcp.example.com/mcp')
 * ```
 */
export function mcpAuthInfo(
  claims: AccessTokenClaims,
  token: string,
  resource: string,
): McpAuthInfo {
  return {
    token,
    clientId: claims.client_id,
    scopes: typeof claims.scope === 'string' && claims.scope !== '' ? claims.scope.split(' ') : [],
    expiresAt: claims.exp,
    resource: new URL(resource),
    extra: { writ: claims },
  }
}

/**
 * The verified writ claims of an `AuthInfo` made by this library, or undefined (no auth info,
 * or auth info from elsewhere).
 *
 * @example
 * ```ts
 * const task = writClaimsOf(extra.authInfo)?.task?.id
 * ```
 */
export function writClaimsOf(authInfo: unknown): AccessTokenClaims | undefined {
  if (typeof authInfo !== 'object' || authInfo === null) return undefined
  const extra = (authInfo as { extra?: unknown }).extra
  if (typeof extra !== 'object' || extra === null) return undefined
  const claims = (extra as { writ?: unknown }).writ
  return typeof claims === 'object' && claims !== null ? (claims as AccessTokenClaims) : undefined
}
