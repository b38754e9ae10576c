import { createVerifier, type Verifier } from '../create-verifier.js'
import { DEFAULT_DPOP_ALGORITHMS } from '../dpop-defaults.js'
import { readTokenPresentation } from '../read-token-presentation.js'
import type { AccessTokenClaims } from '../types.js'
import { VerifierError } from '../verifier-error.js'
import type { VerifierOptions } from '../verifier-options.js'
import { authorizeMcp, holdsMcpGrant, type McpScopeGrant } from './authorize-mcp.js'
import { mcpAuthInfo, type McpAuthInfo } from './mcp-auth-info.js'
import {
  protectedResourceMetadata,
  type ProtectedResourceMetadata,
} from './protected-resource-metadata.js'
import { readMcpCalls, type McpCall } from './read-mcp-calls.js'
import {
  protectedResourceMetadataUrl,
  resourceUriProblems,
  WELL_KNOWN_PRM,
} from './resource-uri.js'

/**
 * Options of {@link createMcpProtection}: the verifier's options (its `audience` is the
 * `resource`) and what the server publishes about itself.
 *
 * @example
 * ```ts
 * const options: McpProtectionOptions = {
 *   resource: 'https://mcp.example.com/mcp',
 *   issuer: 'https://writ.example.com',
 *   jwksUri: 'https://writ.example.com/.well-known/jwks.json',
 *   liveness: { mode: 'redis', redis: 'redis://writ-verifier:PASSWORD@writ-redis:6379' },
 *   scopes: { 'mcp:deploy': [{ actions: ['tools/call'], identifier: 'deploy_*' }] },
 * }
 * ```
 */
export interface McpProtectionOptions extends Omit<VerifierOptions, 'audience'> {
  /**
   * This MCP server's canonical URI (`https://mcp.example.com/mcp`): the `resource` clients
   * request tokens for, the `aud` every token must name, the location every `mcp` grant must list.
   */
  resource: string
  /** Issuers clients may get tokens from. Default: `[issuer]`. */
  authorizationServers?: readonly string[]
  /**
   * The scopes clients may request for this server (`scopes_supported`) and what each allows
   * here, as the policy expands it: a 403 names the scopes that would allow the refused call.
   */
  scopes?: Readonly<Record<string, readonly McpScopeGrant[]>>
  /** Human-readable name, `resource_name` in the metadata. */
  resourceName?: string
  /** A page about the server, `resource_documentation` in the metadata. */
  resourceDocumentation?: string
}

/**
 * What a request that passed {@link McpProtection.authenticate} carries.
 *
 * @example
 * ```ts
 * const { claims, authInfo } = await protection.authenticate(request)
 * ```
 */
export interface McpAuthentication {
  claims: AccessTokenClaims
  /** For the MCP SDK: `req.auth` (Node) or `handleRequest(request, { authInfo })`. */
  authInfo: McpAuthInfo
}

/**
 * An MCP server's protection by writ, made by {@link createMcpProtection}. The Node and hono
 * adapters (`mcpNodeMiddleware`, `mcpMiddleware`) are built on it; use it directly elsewhere.
 *
 * @example
 * ```ts
 * if (protection.isMetadataPath(url.pathname)) return protection.metadataResponse()
 * const { claims, authInfo } = await protection.authenticate(request)
 * protection.authorize(claims, await request.json())
 * ```
 */
export interface McpProtection {
  /** The canonical resource URI. */
  readonly resource: string
  /** Where the metadata document is (RFC 9728 §3.1), sent as `resource_metadata` in challenges. */
  readonly metadataUrl: string
  /** The request paths that serve the metadata: the path-suffixed one and the root one. */
  readonly metadataPaths: readonly string[]
  /** The verifier underneath (audience: the resource). */
  readonly verifier: Verifier
  /** The RFC 9728 document. */
  metadata(): ProtectedResourceMetadata
  /** Whether a request path is one of `metadataPaths`. */
  isMetadataPath(pathname: string): boolean
  /** The metadata as a `200 application/json` response (public, cacheable, CORS-open). */
  metadataResponse(): Response
  /**
   * Verifies the request's token for this server (signature, `aud` = the resource, DPoP,
   * liveness) and that it holds an `mcp` grant for it. `url` is the URL the client called, for
   * DPoP's `htu`, when a proxy rewrote it.
   * @throws VerifierError
   */
  authenticate(request: Request, options?: { url?: string }): Promise<McpAuthentication>
  /**
   * Authorizes the JSON-RPC body (one message or a batch) against the token's `mcp` grants.
   * @returns the calls read from it.
   * @throws VerifierError `invalid_request` (400) or `insufficient_scope` (403, with `scope`).
   */
  authorize(claims: AccessTokenClaims, body: unknown): McpCall[]
  /** The response for a VerifierError: its challenge names `resource_metadata`. */
  errorResponse(error: VerifierError): Response
  /** Closes the verifier's liveness connections. */
  close(): Promise<void>
}

/**
 * Protects an MCP server with writ tokens, per the MCP authorization spec: publishes RFC 9728
 * Protected Resource Metadata naming writ as the authorization server, answers 401s with
 * `WWW-Authenticate: Bearer resource_metadata="…"` (and the `DPoP` challenge), refuses tokens
 * whose `aud` is not this server's canonical URI, and authorizes each JSON-RPC call
 * (`tools/call`, `resources/read`, `prompts/get`, batches as a whole) against the token's `mcp`
 * grants, answering 403 `insufficient_scope` with the `scope` hint. Depends on nothing of the
 * broker, nor on the MCP SDK.
 *
 * @throws TypeError listing every problem with the options.
 *
 * @example
 * ```ts
 * import { createMcpProtection, mcpNodeMiddleware } from 'writ/verifier'
 *
 * const protection = createMcpProtection({
 *   resource: 'https://mcp.example.com/mcp',
 *   issuer: 'https://writ.example.com',
 *   jwksUri: 'https://writ.example.com/.well-known/jwks.json',
 *   liveness: { mode: 'redis', redis: 'redis://writ-verifier:PASSWORD@writ-redis:6379' },
 * })
 * const guard = mcpNodeMiddleware(protection)
 * ```
 */
export function createMcpProtection(options: McpProtectionOptions): McpProtection {
  const problems = resourceUriProblems(options.resource)
  const servers = options.authorizationServers ?? [options.issuer]
  const badServer = (s: unknown): boolean => typeof s !== 'string' || s === ''
  if (!Array.isArray(servers) || servers.length === 0 || servers.some(badServer)) {
    problems.push('authorizationServers: a non-empty list of issuer URLs')
  }
  for (const [name, grants] of Object.entries(options.scopes ?? {})) {
    if (name === '' || /[\s"\\]/.test(name)) {
      problems.push(`scopes: ${JSON.stringify(name)} is not a scope token (RFC 6749 §3.3)`)
    }
    if (!Array.isArray(grants) || grants.length === 0) {
      problems.push(`scopes.${name}: a non-empty list of grants`)
    }
  }
  if (problems.length > 0) {
    throw new TypeError(`invalid MCP protection options:\n  - ${problems.join('\n  - ')}`)
  }
  // The rest are the verifier's own options.
  const {
    resource,
    scopes,
    resourceName,
    resourceDocumentation,
    authorizationServers: _servers,
    ...rest
  } = options
  // The verifier's audience is this server alone: a token for another MCP server never passes.
  const verifier = createVerifier({ ...rest, audience: resource })
  const metadataUrl = protectedResourceMetadataUrl(resource)
  const suffixed = new URL(metadataUrl).pathname
  const metadataPaths = suffixed === WELL_KNOWN_PRM ? [suffixed] : [suffixed, WELL_KNOWN_PRM]
  const document = protectedResourceMetadata({
    resource,
    authorizationServers: servers,
    scopesSupported: Object.keys(scopes ?? {}),
    dpopAlgorithms: options.dpop?.algorithms ?? DEFAULT_DPOP_ALGORITHMS,
    ...(resourceName !== undefined ? { resourceName } : {}),
    ...(resourceDocumentation !== undefined ? { resourceDocumentation } : {}),
  })
  const body = JSON.stringify(document)
  const challenge = {
    ...(options.realm !== undefined ? { realm: options.realm } : {}),
    dpopAlgorithms: options.dpop?.algorithms ?? DEFAULT_DPOP_ALGORITHMS,
    resourceMetadata: metadataUrl,
  }
  const authorizeOptions = { resource, ...(scopes !== undefined ? { scopes } : {}) }

  return {
    resource,
    metadataUrl,
    metadataPaths,
    verifier,

    metadata: () => structuredClone(document),

    isMetadataPath: (pathname) => metadataPaths.includes(pathname),

    metadataResponse: () =>
      new Response(body, {
        status: 200,
        headers: {
          'Content-Type': 'application/json',
          'Cache-Control': 'public, max-age=300',
          // Public by design (RFC 9728 §3): browser-based MCP clients read it cross-origin.
          'Access-Control-Allow-Origin': '*',
        },
      }),

    async authenticate(request, requestOptions = {}) {
      const { token, presentation } = readTokenPresentation(request, requestOptions.url)
      const claims = await verifier.verify(token, presentation)
      const scheme = claims.cnf ? 'DPoP' : 'Bearer'
      // Ensure the token was issued for this server (MCP: audience validation), by exact string.
      const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
      if (!audiences.includes(resource)) {
        const message = `the token was not issued for ${resource}`
        throw new VerifierError('audience_mismatch', message, { scheme })
      }
      // Ensure the token holds a grant for this server before anything reads the body.
      if (!holdsMcpGrant(claims, resource)) {
        const all = Object.keys(scopes ?? {})
        const message = `the token holds no mcp grant for ${resource}`
        throw new VerifierError('insufficient_scope', message, {
          scheme,
          ...(all.length > 0 ? { scope: all.join(' ') } : {}),
        })
      }
      return { claims, authInfo: mcpAuthInfo(claims, token, resource) }
    },

    authorize(claims, message) {
      const calls = readMcpCalls(message)
      authorizeMcp(claims, calls, authorizeOptions)
      return calls
    },

    errorResponse: (error) => error.toResponse(challenge),

    close: () => verifier.close(),
  }
}
