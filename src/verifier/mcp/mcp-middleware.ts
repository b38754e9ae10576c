import type { MiddlewareHandler } from 'hono'
import type { AccessTokenClaims } from '../types.js'
import { VerifierError } from '../verifier-error.js'
import type { McpProtection } from './create-mcp-protection.js'
import type { McpAuthInfo } from './mcp-auth-info.js'
import { parseJsonRpcText } from './parse-json-rpc-text.js'

/**
 * What {@link mcpMiddleware} puts on the hono context: the claims, the `AuthInfo` for the MCP
 * SDK and the parsed JSON-RPC body (the request's stream has been read: pass it as `parsedBody`).
 *
 * @example
 * ```ts
 * const app = new Hono<{ Variables: McpVariables }>()
 * ```
 */
export type McpVariables = {
  writClaims: AccessTokenClaims
  mcpAuth: McpAuthInfo
  mcpBody: unknown
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

/** Reads a request body up to `limit` bytes; undefined past it. */
async function readLimited(request: Request, limit: number): Promise<string | undefined> {
  const declared = Number(request.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > limit) return undefined
  if (request.body === null) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel()
      return undefined
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new TextDecoder().decode(bytes)
}

/**
 * hono middleware protecting an MCP endpoint (mount it on the endpoint and on the metadata paths,
 * `protection.metadataPaths`): answers `GET` there with the RFC 9728 document; otherwise verifies
 * the token, reads and authorizes the JSON-RPC body, and sets `writClaims`, `mcpAuth` and
 * `mcpBody` for the handler, which passes them to the SDK's `WebStandardStreamableHTTPServerTransport`.
 *
 * @example
 * ```ts
 * const app = new Hono<{ Variables: McpVariables }>()
 * const guard = mcpMiddleware(protection)
 * for (const path of protection.metadataPaths) app.get(path, guard)
 * app.all('/mcp', guard, async (c) => {
 *   const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined })
 *   await buildMcpServer().connect(transport)
 *   guardToolsList(transport, { resource: protection.resource })
 *   return transport.handleRequest(c.req.raw, { authInfo: c.get('mcpAuth'), parsedBody: c.get('mcpBody') })
 * })
 * ```
 */
export function mcpMiddleware(
  protection: McpProtection,
  options: { maxBodyBytes?: number; url?: (request: Request) => string } = {},
): MiddlewareHandler<{ Variables: McpVariables }> {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const origin = new URL(protection.resource).origin
  // The URL the client called, for DPoP's htu: the resource's origin, never the Host header.
  const publicUrl =
    options.url ??
    ((request: Request) => {
      const called = new URL(request.url)
      return new URL(called.pathname + called.search, origin).href
    })
  return async (c, next) => {
    const method = c.req.method
    if ((method === 'GET' || method === 'HEAD') && protection.isMetadataPath(c.req.path)) {
      return protection.metadataResponse()
    }
    let claims: AccessTokenClaims
    try {
      const url = publicUrl(c.req.raw)
      const authenticated = await protection.authenticate(c.req.raw, { url })
      claims = authenticated.claims
      c.set('writClaims', claims)
      c.set('mcpAuth', authenticated.authInfo)
      if (method === 'POST') {
        const text = await readLimited(c.req.raw, limit)
        if (text === undefined) {
          const description = `the request body is larger than ${limit} bytes`
          return c.json({ error: 'invalid_request', error_description: description }, 413)
        }
        const body = parseJsonRpcText(text)
        // Ensure every call of the body is allowed before the MCP server sees any of it.
        protection.authorize(claims, body)
        c.set('mcpBody', body)
      }
    } catch (err) {
      if (err instanceof VerifierError) return protection.errorResponse(err)
      throw err
    }
    await next()
    // Hand out the next nonce with every DPoP answer (RFC 9449 §8.2).
    const nonce = claims.cnf ? protection.verifier.dpopNonce() : undefined
    if (nonce !== undefined) c.res.headers.set('DPoP-Nonce', nonce)
    return undefined
  }
}
