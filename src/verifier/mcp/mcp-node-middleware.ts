import type { IncomingMessage, ServerResponse } from 'node:http'
import { VerifierError } from '../verifier-error.js'
import type { McpProtection } from './create-mcp-protection.js'
import type { McpAuthInfo } from './mcp-auth-info.js'
import { parseJsonRpcText } from './parse-json-rpc-text.js'

/**
 * A Node request after {@link mcpNodeMiddleware}: `auth` is what the MCP SDK's
 * `StreamableHTTPServerTransport.handleRequest` passes to handlers as `extra.authInfo`, `body` the
 * parsed JSON-RPC body (pass it as `parsedBody`: the stream has been read).
 *
 * @example
 * ```ts
 * await transport.handleRequest(req as McpNodeRequest, res, (req as McpNodeRequest).body)
 * ```
 */
export interface McpNodeRequest extends IncomingMessage {
  auth?: McpAuthInfo
  body?: unknown
}

/**
 * Options of {@link mcpNodeMiddleware}.
 *
 * @example
 * ```ts
 * mcpNodeMiddleware(protection, { maxBodyBytes: 256 * 1024 })
 * ```
 */
export interface McpNodeMiddlewareOptions {
  /** Largest JSON-RPC body read, in bytes; larger ones get 413. Default 1 MiB. */
  maxBodyBytes?: number
  /**
   * The URL the client called, for DPoP's `htu`. Default: the resource's origin with the request's
   * path (the `Host` header is never trusted for it).
   */
  url?: (req: IncomingMessage) => string
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

/** The request's credentials as fetch `Headers`, repeated fields kept (two `Authorization`s show). */
function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers()
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (lower === 'authorization' || lower === 'dpop') headers.append(name, raw[i + 1] as string)
  }
  return headers
}

/** Reads the body up to `limit` bytes; past it, drains the rest unread and says so. */
function readBody(req: IncomingMessage, limit: number): Promise<string | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > limit) {
      req.resume()
      return resolve('too-large')
    }
    // A stream something else already read to its end (without leaving req.body) has nothing left.
    if (req.readableEnded) return resolve('')
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        req.off('data', onData)
        req.off('end', onEnd)
        req.resume()
        resolve('too-large')
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => resolve(Buffer.concat(chunks).toString('utf8'))
    req.on('data', onData)
    req.once('end', onEnd)
    req.once('error', reject)
  })
}

/** Writes a fetch Response to a Node response. */
async function send(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    headers[name] = value
  })
  res.writeHead(response.status, headers)
  res.end(await response.text())
}

/**
 * Node `http` / express-style middleware `(req, res, next)` protecting an MCP endpoint: answers
 * `GET` on the metadata paths with the RFC 9728 document; otherwise verifies the token, reads
 * and authorizes the JSON-RPC body (once: it is left on `req.body`), sets `req.auth` for the MCP
 * SDK's `StreamableHTTPServerTransport`, and calls `next()`. Refusals are answered at once (401 with
 * `resource_metadata`, 403 with `scope`, 400, 413, 503); other errors go to `next(err)`. A body
 * already parsed by earlier middleware (`req.body`) is used as it is.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { createMcpProtection, guardToolsList, mcpNodeMiddleware, type McpNodeRequest } from 'writ/verifier'
 *
 * const guard = mcpNodeMiddleware(protection)
 * createServer((req, res) =>
 *   guard(req, res, async () => {
 *     const server = buildMcpServer()
 *     const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
 *     await server.connect(transport)
 *     guardToolsList(transport, { resource: protection.resource })
 *     await transport.handleRequest(req as McpNodeRequest, res, (req as McpNodeRequest).body)
 *   }),
 * ).listen(3000)
 * ```
 */
export function mcpNodeMiddleware(
  protection: McpProtection,
  options: McpNodeMiddlewareOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const origin = new URL(protection.resource).origin
  const publicUrl = options.url ?? ((req: IncomingMessage) => new URL(req.url ?? '/', origin).href)

  /** Answers the request, or prepares it for the MCP server and says so (true). */
  async function handle(req: McpNodeRequest, res: ServerResponse): Promise<boolean> {
    const method = req.method ?? 'GET'
    const pathname = new URL(req.url ?? '/', origin).pathname
    if ((method === 'GET' || method === 'HEAD') && protection.isMetadataPath(pathname)) {
      await send(res, protection.metadataResponse())
      return false
    }
    let nonce: string | undefined
    try {
      const url = publicUrl(req)
      const request = new Request(url, { method, headers: headersOf(req) })
      const { claims, authInfo } = await protection.authenticate(request, { url })
      nonce = claims.cnf ? protection.verifier.dpopNonce() : undefined
      if (method === 'POST') {
        let body = req.body
        if (body === undefined) {
          const text = await readBody(req, limit)
          if (text === 'too-large') {
            const description = `the request body is larger than ${limit} bytes`
            res.writeHead(413, { 'Content-Type': 'application/json', Connection: 'close' })
            res.end(JSON.stringify({ error: 'invalid_request', error_description: description }))
            return false
          }
          body = parseJsonRpcText(text)
        }
        // Ensure every call of the body is allowed before the MCP server sees any of it.
        protection.authorize(claims, body)
        req.body = body
      }
      req.auth = authInfo
    } catch (err) {
      if (!(err instanceof VerifierError)) throw err
      await send(res, protection.errorResponse(err))
      return false
    }
    // Hand out the next nonce with every DPoP answer (RFC 9449 §8.2).
    if (nonce !== undefined) res.setHeader('DPoP-Nonce', nonce)
    return true
  }

  return (req, res, next) => {
    handle(req, res).then((pass) => {
      if (pass) next()
    }, next)
  }
}
