import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js'
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type McpExample, startMcpExample } from '../../examples/mcp-server/app.js'
import { freePort } from '../helpers/redis.js'
import { eventually } from '../helpers/eventually.js'
import { type HttpBroker, startHttpBroker } from '../helpers/http-broker.js'
import { exampleProtection, MCP_AGENT, mcpGrant, mcpPolicyText, mcpToken } from '../helpers/mcp.js'

/**
 * The example MCP server (examples/mcp-server) on the official SDK, protected by writ/verifier
 * with Redis liveness, driven by the SDK's own client over HTTP, with tokens from a real broker.
 */
let broker: HttpBroker
let example: McpExample
let resource: string
const runs: Array<{ tool: string; task: string | undefined }> = []

beforeAll(async () => {
  broker = await startHttpBroker({}, { policyText: await mcpPolicyText() })
  const port = await freePort()
  resource = `http://127.0.0.1:${port}/mcp`
  example = await startMcpExample({
    protection: exampleProtection(broker, resource),
    port,
    onToolRun: (tool, claims) => runs.push({ tool, task: claims?.task?.id }),
  })
}, 30_000)

afterAll(async () => {
  await example?.close()
  await broker?.close()
})

/** An SDK client connected to the example with `token`. */
async function connect(token: string): Promise<Client> {
  const client = new Client({ name: 'writ-test-agent', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(example.url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  })
  await client.connect(transport)
  return client
}

const post = (token: string | undefined, body: unknown) =>
  fetch(example.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  })

const call = (id: number, name: string, args: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
})

describe('the example MCP server protected by writ', () => {
  it('publishes RFC 9728 metadata at the path-suffixed and the root well-known URL', async () => {
    const origin = new URL(resource).origin
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const res = await fetch(`${origin}${path}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/json')
      expect(await res.json()).toEqual({
        resource,
        authorization_servers: [broker.url],
        scopes_supported: ['mcp:docs', 'mcp:issues', 'mcp:deploy'],
        bearer_methods_supported: ['header'],
        dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256', 'PS256'],
        authorization_details_types_supported: ['mcp'],
      })
    }
    // The SDK's own discovery finds and accepts it.
    const found = await discoverOAuthProtectedResourceMetadata(example.url)
    expect(found.resource).toBe(resource)
    expect(found.authorization_servers).toEqual([broker.url])
  })

  it('answers a request without a token 401 with resource_metadata, which the SDK reads', async () => {
    const res = await post(undefined, { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} })
    expect(res.status).toBe(401)
    const challenge = res.headers.get('www-authenticate')
    expect(challenge).toBe(
      `Bearer resource_metadata="${new URL(resource).origin}/.well-known/oauth-protected-resource/mcp", ` +
        `DPoP resource_metadata="${new URL(resource).origin}/.well-known/oauth-protected-resource/mcp", algs="ES256 EdDSA RS256 PS256"`,
    )
    expect(extractWWWAuthenticateParams(res).resourceMetadataUrl?.href).toBe(
      `${new URL(resource).origin}/.well-known/oauth-protected-resource/mcp`,
    )
  })

  it('runs a granted tool, lists only the granted tools, and refuses an ungranted one with the scope hint without running it', async () => {
    const token = await mcpToken(broker, [mcpGrant(resource, 'search_docs')], 'MCP-GRANTED')
    const client = await connect(token)
    try {
      const result = await client.callTool({ name: 'search_docs', arguments: { query: 'review' } })
      expect(result.content).toEqual([{ type: 'text', text: 'docs/deploy.md' }])
      expect(runs).toContainEqual({ tool: 'search_docs', task: 'MCP-GRANTED' })

      const listed = await client.listTools()
      expect(listed.tools.map((t) => t.name)).toEqual(['search_docs'])

      const before = runs.length
      const refused = await client.callTool({ name: 'create_issue', arguments: { title: 'x' } }).catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(StreamableHTTPError)
      expect((refused as StreamableHTTPError).code).toBe(403)
      expect(runs.length).toBe(before)
    } finally {
      await client.close()
    }

    const res = await post(token, call(9, 'create_issue', { title: 'x' }))
    expect(res.status).toBe(403)
    const params = extractWWWAuthenticateParams(res)
    expect(params.error).toBe('insufficient_scope')
    expect(params.scope).toBe('mcp:issues')
    expect(res.headers.get('www-authenticate')).toContain(
      `error_description="the token does not allow tools/call create_issue on ${resource}"`,
    )
    expect(runs.map((r) => r.tool)).not.toContain('create_issue')
  })

  it('refuses a whole batch when one of its calls is not granted, and runs none of it', async () => {
    const token = await mcpToken(broker, [mcpGrant(resource, 'search_docs')], 'MCP-BATCH')
    const before = runs.length
    const res = await post(token, [call(1, 'search_docs', { query: 'build' }), call(2, 'deploy_prod', { version: 'v1.0.0' })])
    expect(res.status).toBe(403)
    expect(extractWWWAuthenticateParams(res).scope).toBe('mcp:deploy')
    expect(res.headers.get('www-authenticate')).toContain('message 1 of the batch')
    expect(runs.length).toBe(before)
  })

  it('filters the tool list even when the client reuses its id for another call in the batch', async () => {
    const token = await mcpToken(broker, [mcpGrant(resource, 'search_docs')], 'MCP-REUSED-ID')
    const res = await post(token, [
      { jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} },
      call(7, 'search_docs', { query: 'build' }),
    ])
    const answers = (await res.json()) as Array<{ result?: { tools?: Array<{ name: string }> } }>
    const listed = (Array.isArray(answers) ? answers : [answers]).flatMap((a) => a.result?.tools ?? [])
    expect(listed.map((t) => t.name)).not.toContain('deploy_prod')
    expect(listed.map((t) => t.name)).not.toContain('create_issue')
  })

  it('refuses a token issued for another MCP server (audience)', async () => {
    const other = `http://127.0.0.1:${await freePort()}/mcp`
    const token = await mcpToken(broker, [mcpGrant(other, 'search_docs')], 'MCP-OTHER')
    const res = await post(token, { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"')
    expect(res.headers.get('www-authenticate')).toContain('resource_metadata=')
    // The SDK client cannot even initialize with it.
    const failed = await connect(token).catch((e: unknown) => e)
    expect(failed).toBeInstanceOf(StreamableHTTPError)
    expect((failed as StreamableHTTPError).code).toBe(401)
  })

  it('refuses the next call once the token is revoked mid-session, and the SDK client reports the 401', async () => {
    const token = await mcpToken(broker, [mcpGrant(resource, 'search_docs')], 'MCP-REVOKED')
    const client = await connect(token)
    try {
      await client.callTool({ name: 'search_docs', arguments: { query: 'build' } })
      const revoked = await fetch(`${broker.url}/oauth/revoke`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${MCP_AGENT.clientId}:${MCP_AGENT.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token }).toString(),
      })
      expect(revoked.status).toBe(200)
      let failure: unknown
      await eventually('the server refuses the revoked token', async () => {
        failure = await client.callTool({ name: 'search_docs', arguments: { query: 'build' } }).then(
          () => undefined,
          (e: unknown) => e,
        )
        return failure !== undefined
      })
      expect(failure).toBeInstanceOf(StreamableHTTPError)
      expect((failure as StreamableHTTPError).code).toBe(401)
      expect(String((failure as Error).message)).toContain('the token has been revoked')
    } finally {
      await client.close()
    }
  })
})
