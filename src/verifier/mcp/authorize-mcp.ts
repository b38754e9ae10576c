import { globMatch } from '../../wire/glob.js'
import { authorize } from '../authorize.js'
import type { AccessTokenClaims } from '../types.js'
import { VerifierError } from '../verifier-error.js'
import type { McpAction, McpCall } from './read-mcp-calls.js'

/**
 * What one scope this server advertises allows here, in the shape of an `mcp` grant without its
 * location: the methods and, optionally, a glob of tool names, resource URIs or prompt names.
 *
 * @example
 * ```ts
 * const deploy: McpScopeGrant = { actions: ['tools/call'], identifier: 'deploy_*' }
 * ```
 */
export interface McpScopeGrant {
  actions: readonly McpAction[]
  identifier?: string
}

/**
 * Options of {@link authorizeMcp}.
 *
 * @example
 * ```ts
 * const options: AuthorizeMcpOptions = {
 *   resource: 'https://mcp.example.com/mcp',
 *   scopes: { 'mcp:deploy': [{ actions: ['tools/call'], identifier: 'deploy_*' }] },
 * }
 * ```
 */
export interface AuthorizeMcpOptions {
  /** This server's canonical resource URI: the location every `mcp` grant must list. */
  resource: string
  /**
   * The scopes this server advertises (`scopes_supported`) and what each allows, as the policy
   * expands them. A refusal names, in its challenge's `scope`, the scopes that would allow the
   * refused calls: the step-up hint an MCP client requests a new token with.
   */
  scopes?: Readonly<Record<string, readonly McpScopeGrant[]>>
}

/** A caller-chosen name as a refusal shows it: at most 200 characters. */
const shown = (target: string): string =>
  target.length > 200 ? `${target.slice(0, 200)}…` : target

/** The token's `authorization_details` of type `mcp`. */
const mcpDetails = (claims: AccessTokenClaims) =>
  (Array.isArray(claims.authorization_details) ? claims.authorization_details : []).filter(
    (detail) => detail !== null && typeof detail === 'object' && detail.type === 'mcp',
  )

/**
 * Whether the token holds an `mcp` grant for this server: one whose `locations` match `resource`.
 * Such a holder may `initialize`, `ping`, list tools, resources and prompts, and send
 * notifications; each call is still authorized on its own.
 *
 * @example
 * ```ts
 * if (!holdsMcpGrant(claims, 'https://mcp.example.com/mcp')) return forbidden()
 * ```
 */
export function holdsMcpGrant(claims: AccessTokenClaims, resource: string): boolean {
  return mcpDetails(claims).some(
    (detail) =>
      Array.isArray(detail.locations) &&
      detail.locations.some(
        (pattern) => typeof pattern === 'string' && globMatch(pattern, resource),
      ),
  )
}

/** Whether the token's grants allow one call (the same rules as `authorize`). */
export function allowsMcpCall(
  claims: AccessTokenClaims,
  call: { method: McpAction; target: string },
  resource: string,
): boolean {
  try {
    authorize(claims, {
      type: 'mcp',
      action: call.method,
      resource: { location: resource, identifier: call.target },
    })
    return true
  } catch (err) {
    if (err instanceof VerifierError) return false
    throw err
  }
}

/** The scopes (in declaration order) that would allow every one of the calls, each by one scope. */
function scopeHint(
  calls: ReadonlyArray<{ method: McpAction; target: string }>,
  scopes: AuthorizeMcpOptions['scopes'],
): string | undefined {
  if (scopes === undefined) return undefined
  const entries = Object.entries(scopes)
  const needed = new Set<string>()
  for (const call of calls) {
    const scope = entries.find(([, grants]) =>
      grants.some(
        (grant) =>
          grant.actions.includes(call.method) &&
          (grant.identifier === undefined || globMatch(grant.identifier, call.target)),
      ),
    )
    // A call no advertised scope allows: no hint would help.
    if (scope === undefined) return undefined
    needed.add(scope[0])
  }
  return needed.size > 0 ? [...needed].join(' ') : undefined
}

/**
 * Authorizes an MCP request (its messages, from `readMcpCalls`) against the token's `mcp` grants
 * at this server. Every call must be covered by a grant that lists `resource` among its
 * `locations`, the method among its `actions`, and an `identifier` glob matching the tool name,
 * resource URI or prompt name (a grant without `identifier` covers all of them), with the glob
 * semantics of `authorize`. The other methods any holder of an `mcp` grant for this server may use
 * (`initialize`, `ping`, lists, notifications); any other method is refused. A batch passes only
 * when every message does: one refused call refuses the whole batch, and nothing of it runs.
 *
 * @throws VerifierError `insufficient_scope` (403) naming the refused call, with the step-up
 *   `scope` hint when the advertised scopes allow it.
 *
 * @example
 * ```ts
 * const claims = await verifier.verifyRequest(request)
 * authorizeMcp(claims, readMcpCalls(await request.json()), { resource: 'https://mcp.example.com/mcp' })
 * ```
 */
export function authorizeMcp(
  claims: AccessTokenClaims,
  calls: readonly McpCall[],
  options: AuthorizeMcpOptions,
): void {
  const scheme = claims.cnf ? 'DPoP' : 'Bearer'
  const { resource } = options
  const batch = calls.length > 1
  // Ensure only holders of a grant for this very server get anywhere, lists and initialize too.
  if (!holdsMcpGrant(claims, resource)) {
    const all = Object.keys(options.scopes ?? {})
    throw new VerifierError('insufficient_scope', `the token holds no mcp grant for ${resource}`, {
      scheme,
      ...(all.length > 0 ? { scope: all.join(' ') } : {}),
    })
  }
  const refused: Array<{ method: McpAction; target: string; index: number }> = []
  for (const [index, call] of calls.entries()) {
    if (call.kind === 'open') continue
    if (call.kind === 'other') {
      const where = batch ? `message ${index} of the batch: ` : ''
      throw new VerifierError(
        'insufficient_scope',
        `${where}the method ${shown(call.method)} is not allowed through this server's writ check`,
        { scheme },
      )
    }
    // Ensure every call is covered by a grant for this server, a batch as a whole.
    if (!allowsMcpCall(claims, call, resource)) refused.push({ ...call, index })
  }
  const first = refused[0]
  if (first === undefined) return
  const where = batch ? `message ${first.index} of the batch: ` : ''
  const more = refused.length > 1 ? ` (and ${refused.length - 1} more call(s) of the batch)` : ''
  const scope = scopeHint(refused, options.scopes)
  throw new VerifierError(
    'insufficient_scope',
    `${where}the token does not allow ${first.method} ${shown(first.target)} on ${resource}${more}`,
    { scheme, ...(scope !== undefined ? { scope } : {}) },
  )
}
