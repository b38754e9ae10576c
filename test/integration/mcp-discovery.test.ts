import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type McpExample, startMcpExample } from '../../examples/mcp-server/app.js'
import { createMcpProtection } from '../../src/verifier/index.js'
import { type HttpBroker, startHttpBroker } from '../helpers/http-broker.js'
import { MCP_AGENT, mcpPolicyText } from '../helpers/mcp.js'
import { freePort } from '../helpers/redis.js'

/**
 * An MCP client that knows nothing of writ: the official SDK's own client-credentials provider,
 * given only its client id and secret, the scopes the server lists, the authorization server it
 * trusts (`expectedIssuer`) and the MCP server's URL. From the server's bare 401 it
 * finds the RFC 9728 metadata, from there writ's RFC 8414 metadata, and asks writ's token endpoint
 * for the server's scopes with the server as RFC 8707 `resource`; the policy expands the scopes to
 * `mcp` grants bound to that server, and the calls they cover work.
 */
let broker: HttpBroker
let example: McpExample
let resource: string
const runs: string[] = []

/** The example server's scopes: the policy's `scopes:` section names the same grants. */
const SCOPES = {
  'mcp:docs': [{ actions: ['tools/call' as const], identifier: 'search_docs' }],
  'mcp:issues': [{ actions: ['tools/call' as const], identifier: 'create_issue' }],
}

beforeAll(async () => {
  const policyText = `${await mcpPolicyText()}
scopes:
  - name: mcp:docs
    grants: [{ type: mcp, actions: [tools/call], identifier: search_docs }]
  - name: mcp:issues
    grants: [{ type: mcp, actions: [tools/call], identifier: create_issue }]
`
  broker = await startHttpBroker({}, { policyText })
  const port = await freePort()
  resource = `http://127.0.0.1:${port}/mcp`
  example = await startMcpExample({
    protection: createMcpProtection({
      resource,
      issuer: broker.url,
      jwksUri: `${broker.url}/.well-known/jwks.json`,
      liveness: { mode: 'redis', redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: broker.prefix },
      scopes: SCOPES,
    }),
    port,
    onToolRun: (tool) => runs.push(tool),
  })
}, 30_000)

afterAll(async () => {
  await example?.close()
  await broker?.close()
})

/** An SDK client whose only auth is the SDK's client-credentials provider. */
async function sdkClient(): Promise<{ client: Client; provider: ClientCredentialsProvider }> {
  const provider = new ClientCredentialsProvider({
    clientId: MCP_AGENT.clientId,
    clientSecret: MCP_AGENT.clientSecret,
    expectedIssuer: broker.url,
    // The scopes the server's metadata lists (scopes_supported): nothing about writ.
    scope: 'mcp:docs mcp:issues',
  })
  const client = new Client({ name: 'plain-mcp-client', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(example.url), { authProvider: provider }))
  return { client, provider }
}

describe('an MCP SDK client that knows nothing of writ', () => {
  it('discovers writ from a bare 401, gets a token for the server, and calls the tools it covers', async () => {
    const { client, provider } = await sdkClient()
    try {
      const claims = decodeJwt(provider.tokens()!.access_token)
      // The scopes the server advertises, expanded by the policy and bound to the server.
      expect(claims).toMatchObject({ aud: resource, scope: 'mcp:docs mcp:issues', client_id: MCP_AGENT.clientId })
      expect(claims.authorization_details).toEqual([
        { type: 'mcp', actions: ['tools/call'], identifier: 'search_docs', locations: [resource] },
        { type: 'mcp', actions: ['tools/call'], identifier: 'create_issue', locations: [resource] },
      ])
      expect((claims.task as { id: string }).id).toMatch(/^oauth-/)

      const result = await client.callTool({ name: 'search_docs', arguments: { query: 'deploy' } })
      expect(result.isError).toBeFalsy()
      expect(runs).toContain('search_docs')
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name).sort()).toEqual(['create_issue', 'search_docs'])
    } finally {
      await client.close()
    }
  })

  it('is refused a tool no scope covers, and the tool does not run', async () => {
    const { client } = await sdkClient()
    try {
      const before = runs.length
      await expect(client.callTool({ name: 'deploy_prod', arguments: { version: '1.2.3' } })).rejects.toThrow(/403/)
      expect(runs.slice(before)).not.toContain('deploy_prod')
    } finally {
      await client.close()
    }
  })

  it('stops working when its client is locked: the token is revoked and no new one is issued', async () => {
    const { client, provider } = await sdkClient()
    try {
      await client.callTool({ name: 'search_docs', arguments: { query: 'a' } })
      const lock = await fetch(`${broker.url}/admin/locks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${broker.broker.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: MCP_AGENT.clientId, reason: 'agent compromised' }),
      })
      expect(lock.status).toBe(201)
      const revoked = provider.tokens()!.access_token
      // The next call is answered 401 (the grant is gone); the SDK asks writ again and is refused.
      await expect(client.callTool({ name: 'search_docs', arguments: { query: 'b' } })).rejects.toThrow()
      const introspection = await fetch(`${broker.url}/oauth/introspect`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${MCP_AGENT.clientId}:${MCP_AGENT.clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token: revoked }),
      })
      expect(await introspection.json()).toEqual({ active: false })
    } finally {
      await client.close()
    }
  })
})
