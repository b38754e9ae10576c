/**
 * An agent tool in TypeScript, served over the Model Context Protocol (the official MCP SDK): any
 * MCP-speaking agent (Claude, the OpenAI Agents SDK, LangGraph's MCP adapters) can call it. Each
 * call gets a task-scoped, DPoP-bound token from writ for exactly the one document it reads, calls
 * the protected docs service (examples/downstream-service/server.ts) with it, and revokes it when
 * done.
 *
 * A real agent imports from '@writ/client' (packages/client); this example imports the source so it
 * runs without a build.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { fetchWithToken, requestToken, type ClientCredentials, type PendingApproval } from '../../src/client/index.js'

export interface DocsToolOptions {
  /** The writ broker, e.g. http://localhost:8080. */
  broker: string
  credentials: ClientCredentials
  /** The docs service, e.g. http://127.0.0.1:8081. */
  service: string
  onPending?: (pending: PendingApproval) => void
}

const LOCATION = 'https://git.example.com/acme/app'

/** An MCP server with one tool, `read_doc`. Connect it to a transport (stdio, HTTP, in-memory). */
export function createDocsToolServer(options: DocsToolOptions): McpServer {
  const server = new McpServer({ name: 'writ-docs-example', version: '0.1.0' })
  server.registerTool(
    'read_doc',
    {
      description: 'Read one file under docs/ of acme/app, for a task. Gets a token for exactly that file.',
      inputSchema: { path: z.string().describe('path under docs/, e.g. README.md'), task_id: z.string() },
    },
    async ({ path, task_id }) => {
      const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
      const token = await requestToken({
        broker: options.broker,
        credentials: options.credentials,
        manifest: {
          task: { id: task_id, purpose: `read docs/${path}` },
          ttl: '5m',
          grants: [{ type: 'repo', actions: ['read'], locations: [LOCATION], identifier: `docs/${path}` }],
        },
        dpopKey: keys,
        ...(options.onPending ? { onPending: options.onPending } : {}),
      })
      try {
        const res = await fetchWithToken(`${options.service}/docs/${path}`, {}, { accessToken: token.accessToken, dpopKey: keys })
        const text = await res.text()
        return { content: [{ type: 'text' as const, text }], isError: !res.ok }
      } finally {
        // The call is over: the token dies now, not when it expires (RFC 7009).
        await fetch(`${options.broker.replace(/\/+$/, '')}/oauth/revoke`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            ...('clientSecret' in options.credentials
              ? { authorization: `Basic ${btoa(`${encodeURIComponent(options.credentials.clientId)}:${encodeURIComponent(options.credentials.clientSecret)}`)}` }
              : {}),
          },
          body: new URLSearchParams({ token: token.accessToken }),
        })
      }
    },
  )
  return server
}
