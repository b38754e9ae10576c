import { createServer, request, type Server } from 'node:http'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMcpServer } from '../../../examples/mcp-server/tools.js'
import {
  createMcpProtection,
  guardToolsList,
  type McpNodeRequest,
  mcpMiddleware,
  mcpNodeMiddleware,
  type McpProtection,
  type McpVariables,
} from '../../../src/verifier/index.js'
import { ISSUER, json, makeTestBroker, type TestBroker, type TestResponse } from '../../helpers/broker.js'
import { generateKeyPair } from 'jose'
import { createDpopProof, requestToken } from '../../../src/client/index.js'
import { EXAMPLE_SCOPES, MCP_AGENT, mcpGrant, mcpPolicyText } from '../../helpers/mcp.js'
import { freePort } from '../../helpers/redis.js'

let broker: TestBroker
const RESOURCE = 'http://127.0.0.1:9/mcp'

beforeAll(async () => {
  broker = await makeTestBroker({ policyText: await mcpPolicyText() })
})
afterAll(() => broker.close())

function protect(resource = RESOURCE): McpProtection {
  return createMcpProtection({
    resource,
    issuer: ISSUER,
    jwksUri: `${ISSUER}/.well-known/jwks.json`,
    fetch: async (input, init) => broker.app.request(String(input), init),
    clock: () => broker.clock(),
    liveness: { mode: 'none' },
    scopes: EXAMPLE_SCOPES,
  })
}

async function token(identifier: string, resource = RESOURCE): Promise<string> {
  const manifest = { task: { id: 'MCP-UNIT' }, ttl: '5m', grants: [mcpGrant(resource, identifier)] }
  const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: [MCP_AGENT.clientId, MCP_AGENT.clientSecret] })
  expect(res.status).toBe(200)
  return (await res.json()).access_token
}

const rpc = (id: number, method: string, params: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method, params })
const init = { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } }
const headers = (bearer?: string) => ({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
})

describe('mcpMiddleware (hono, with the SDK web-standard transport)', () => {
  const protection = protect()
  const ran: string[] = []
  const app = new Hono<{ Variables: McpVariables }>()
  const guard = mcpMiddleware(protection, { maxBodyBytes: 4096 })
  for (const path of protection.metadataPaths) app.get(path, guard)
  app.post('/mcp', guard, async (c) => {
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    await buildMcpServer((tool) => ran.push(tool)).connect(transport)
    guardToolsList(transport, { resource: protection.resource })
    return transport.handleRequest(c.req.raw, { authInfo: c.get('mcpAuth'), parsedBody: c.get('mcpBody') })
  })
  const send = (body: unknown, bearer?: string, raw?: string) =>
    app.request('http://127.0.0.1:9/mcp', {
      method: 'POST',
      headers: headers(bearer),
      body: raw ?? JSON.stringify(body),
    }) as Promise<TestResponse>

  it('serves the metadata, runs a granted tool, filters tools/list and refuses an ungranted tool', async () => {
    const metadata = (await app.request('http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp')) as TestResponse
    expect((await metadata.json()).resource).toBe(RESOURCE)
    const bearer = await token('search_docs')
    expect((await send(rpc(1, 'initialize', init), bearer)).status).toBe(200)
    const listed = await send(rpc(2, 'tools/list'), bearer)
    expect((await listed.json()).result.tools.map((t: { name: string }) => t.name)).toEqual(['search_docs'])
    const called = await send(rpc(3, 'tools/call', { name: 'search_docs', arguments: { query: 'build' } }), bearer)
    expect((await called.json()).result.content[0].text).toBe('docs/README.md')
    const refused = await send(rpc(4, 'tools/call', { name: 'create_issue', arguments: { title: 'x' } }), bearer)
    expect(refused.status).toBe(403)
    expect(refused.headers.get('www-authenticate')).toContain('scope="mcp:issues"')
    expect(ran).toEqual(['search_docs'])
  })

  it('answers a body that is not JSON 400 and an oversized one 413, before the MCP server sees it', async () => {
    const bearer = await token('search_docs')
    const bad = await send(undefined, bearer, '{nope')
    expect(bad.status).toBe(400)
    expect((await bad.json()).error_description).toBe('the request body must be JSON: a JSON-RPC message or batch')
    const big = await send(rpc(1, 'tools/call', { name: 'search_docs', arguments: { query: 'x'.repeat(5000) } }), bearer)
    expect(big.status).toBe(413)
    expect(ran).toEqual(['search_docs'])
  })

  it('answers without a token 401 naming resource_metadata', async () => {
    const res = await send(rpc(1, 'initialize', init))
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toContain(
      'Bearer resource_metadata="http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp"',
    )
  })
})

describe('mcpNodeMiddleware (express-style, with the SDK Node transport)', () => {
  let server: Server
  let url: string
  const ran: string[] = []

  beforeAll(async () => {
    const port = await freePort()
    url = `http://127.0.0.1:${port}/mcp`
    const protection = protect(url)
    const guard = mcpNodeMiddleware(protection, { maxBodyBytes: 4096 })
    server = createServer((req, res) => {
      const serve = () =>
        guard(req, res, async () => {
          const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
          await buildMcpServer((tool) => ran.push(tool)).connect(transport)
          await transport.handleRequest(req as McpNodeRequest, res, (req as McpNodeRequest).body)
        })
      // Left alone, the guard reads the stream; x-preparse: an express.json()-style parser reads
      // it first and leaves req.body; x-consume: something reads it and leaves nothing.
      if (req.headers['x-preparse'] !== '1' && req.headers['x-consume'] !== '1') return serve()
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        if (req.headers['x-preparse'] === '1') (req as McpNodeRequest).body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        serve()
      })
    })
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  })
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  it('authorizes a body an earlier parser read, and refuses two Authorization headers', async () => {
    const bearer = await token('search_docs', url)
    const denied = await fetch(url, {
      method: 'POST',
      headers: { ...headers(bearer), 'x-preparse': '1' },
      body: JSON.stringify(rpc(1, 'tools/call', { name: 'deploy_prod', arguments: { version: 'v1.0.0' } })),
    })
    expect(denied.status).toBe(403)
    expect(ran).toEqual([])
    const allowed = await fetch(url, {
      method: 'POST',
      headers: { ...headers(bearer), 'x-preparse': '1' },
      body: JSON.stringify(rpc(2, 'tools/call', { name: 'search_docs', arguments: { query: 'build' } })),
    })
    expect(allowed.status).toBe(200)
    expect(ran).toEqual(['search_docs'])

    const twice = await new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: [
        'content-type', 'application/json', 'accept', 'application/json, text/event-stream',
        'authorization', `Bearer ${bearer}`, 'authorization', `Bearer ${bearer}`,
      ] }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end(JSON.stringify(rpc(3, 'ping')))
    })
    expect(twice).toBe(400)
  })

  it('answers a body some earlier code consumed without leaving req.body 400, instead of waiting', async () => {
    const bearer = await token('search_docs', url)
    const res = await fetch(url, {
      method: 'POST',
      headers: { ...headers(bearer), 'x-consume': '1' },
      body: JSON.stringify(rpc(1, 'ping')),
    })
    expect(res.status).toBe(400)
  })

  it('answers an oversized body 413', async () => {
    const bearer = await token('search_docs', url)
    const res = await fetch(url, {
      method: 'POST',
      headers: headers(bearer),
      body: JSON.stringify(rpc(1, 'tools/call', { name: 'search_docs', arguments: { query: 'x'.repeat(5000) } })),
    })
    expect(res.status).toBe(413)
  })

  it('accepts a DPoP-bound token only with a proof for the public URL, and challenges with DPoP', async () => {
    const key = await generateKeyPair('ES256')
    const bound = await requestToken({
      broker: ISSUER,
      credentials: MCP_AGENT,
      manifest: { task: { id: 'MCP-DPOP' }, ttl: '5m', grants: [mcpGrant(url, 'search_docs')] },
      dpopKey: key,
      fetch: async (input, init) => broker.app.request(String(input), init),
      now: () => broker.clock(),
    })
    expect(bound.tokenType).toBe('DPoP')
    const body = JSON.stringify(rpc(1, 'tools/call', { name: 'search_docs', arguments: { query: 'build' } }))
    const send = async (scheme: string, proofUrl?: string) =>
      fetch(url, {
        method: 'POST',
        headers: {
          ...headers(),
          'x-preparse': '1',
          authorization: `${scheme} ${bound.accessToken}`,
          ...(proofUrl
            ? { dpop: await createDpopProof(key, { method: 'POST', url: proofUrl, accessToken: bound.accessToken, now: broker.clock() }) }
            : {}),
        },
        body,
      })
    expect((await send('DPoP', url)).status).toBe(200)
    const asBearer = await send('Bearer')
    expect(asBearer.status).toBe(401)
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP resource_metadata="[^"]+", algs="ES256 EdDSA RS256 PS256", error="invalid_token"/)
    // A proof made for another server, replayed here with that server's Host header: htu is
    // checked against this server's own URL, never the Host the client sends.
    const elsewhere = await new Promise<{ status: number; challenge: string | undefined }>(async (resolve, reject) => {
      const proof = await createDpopProof(key, {
        method: 'POST',
        url: 'http://attacker.example/mcp',
        accessToken: bound.accessToken,
        now: broker.clock(),
      })
      const req = request(url, {
        method: 'POST',
        headers: { ...headers(), 'x-preparse': '1', host: 'attacker.example', authorization: `DPoP ${bound.accessToken}`, dpop: proof },
      }, (res) => {
        res.resume()
        resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] })
      })
      req.on('error', reject)
      req.end(body)
    })
    expect(elsewhere.status).toBe(401)
    expect(elsewhere.challenge).toContain('error="invalid_dpop_proof"')
  })
})
