/**
 * The example MCP server over Node `http` with the SDK's `StreamableHTTPServerTransport`
 * (stateless: one `McpServer` per request), protected by `writ/verifier` when given a protection:
 * the RFC 9728 metadata at the well-known paths, every request's token and JSON-RPC calls
 * checked before the SDK sees them, `tools/list` filtered to the tools the token may call.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import {
  guardToolsList,
  type McpNodeRequest,
  mcpNodeMiddleware,
  type McpProtection,
} from '../../src/verifier/index.js'
import { buildMcpServer, type ToolRunListener } from './tools.js'

export interface McpExampleOptions {
  /** The writ protection. Without one the same tools are served to anyone (the bench's baseline). */
  protection?: McpProtection
  /** The MCP endpoint's path. Default: the resource's path, else `/mcp`. */
  path?: string
  port?: number
  hostname?: string
  onToolRun?: ToolRunListener
}

export interface McpExample {
  /** The MCP endpoint's URL. */
  url: string
  server: Server
  close(): Promise<void>
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'Content-Type': 'application/json' })
  res.end(JSON.stringify(body))
}

/** Starts the example server; resolves once it listens. */
export async function startMcpExample(options: McpExampleOptions = {}): Promise<McpExample> {
  const { protection } = options
  const path = options.path ?? (protection ? new URL(protection.resource).pathname : '/mcp')
  const guard = protection ? mcpNodeMiddleware(protection) : undefined

  /** Hands one request to a fresh SDK server, its body already read and authorized when protected. */
  async function serveMcp(req: McpNodeRequest, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      // Stateless: no standalone SSE stream to open, no session to delete.
      res.setHeader('Allow', 'POST')
      return json(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null })
    }
    const server = buildMcpServer(options.onToolRun)
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    res.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    if (protection) guardToolsList(transport, { resource: protection.resource })
    await transport.handleRequest(req, res, req.body)
  }

  const fail = (res: ServerResponse, err: unknown): void => {
    console.error(err)
    if (!res.headersSent) json(res, 500, { error: 'server_error' })
    else res.end()
  }

  const server = createServer((req: IncomingMessage, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname
    if (pathname === '/healthz') return json(res, 200, protection ? protection.verifier.status() : { ok: true })
    const isMetadata = protection?.isMetadataPath(pathname) ?? false
    if (pathname !== path && !isMetadata) return json(res, 404, { error: 'not_found' })
    if (!guard) {
      serveMcp(req, res).catch((err) => fail(res, err))
      return
    }
    guard(req, res, (err) => {
      if (err !== undefined) return fail(res, err)
      serveMcp(req, res).catch((e) => fail(res, e))
    })
  })
  server.listen(options.port ?? 0, options.hostname ?? '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  return {
    url: `http://${options.hostname ?? '127.0.0.1'}:${port}${path}`,
    server,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await protection?.close()
    },
  }
}
