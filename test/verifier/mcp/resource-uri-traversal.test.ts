import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMcpProtection, mcpMiddleware, type McpVariables } from '../../../src/verifier/index.js'
import { ISSUER, json, makeTestBroker, type TestBroker, type TestResponse } from '../../helpers/broker.js'
import { EXAMPLE_SCOPES, MCP_AGENT, mcpGrant, mcpPolicyText } from '../../helpers/mcp.js'

/**
 * The MCP SDK looks a `resources/read` URI up by `new URL(uri).toString()`, which resolves dot
 * segments written as `%2e%2e`, `.%2E`, with a tab inside, or behind backslashes. A grant for
 * `https://docs.example.com/public/**` must not read `https://docs.example.com/secret` through any
 * of them.
 */
let broker: TestBroker
const RESOURCE = 'http://127.0.0.1:9/mcp'
const PUBLIC = 'https://docs.example.com/public/readme'
const SECRET = 'https://docs.example.com/secret'

beforeAll(async () => {
  broker = await makeTestBroker({ policyText: await mcpPolicyText() })
})
afterAll(() => broker.close())

const read: string[] = []
function buildServer(): McpServer {
  const server = new McpServer({ name: 'docs', version: '1.0.0' })
  for (const uri of [PUBLIC, SECRET]) {
    server.registerResource(uri, uri, {}, async (url) => {
      read.push(url.href)
      return { contents: [{ uri: url.href, text: `contents of ${url.href}` }] }
    })
  }
  return server
}

const protection = createMcpProtection({
  resource: RESOURCE,
  issuer: ISSUER,
  jwksUri: `${ISSUER}/.well-known/jwks.json`,
  fetch: async (input, init) => broker.app.request(String(input), init),
  clock: () => broker.clock(),
  liveness: { mode: 'none' },
  scopes: EXAMPLE_SCOPES,
})
const app = new Hono<{ Variables: McpVariables }>()
app.post('/mcp', mcpMiddleware(protection), async (c) => {
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
  await buildServer().connect(transport)
  return transport.handleRequest(c.req.raw, { authInfo: c.get('mcpAuth'), parsedBody: c.get('mcpBody') })
})

async function publicReader(): Promise<string> {
  const manifest = {
    task: { id: 'MCP-URI' },
    ttl: '5m',
    grants: [mcpGrant(RESOURCE, 'https://docs.example.com/public/**', ['resources/read'])],
  }
  const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: [MCP_AGENT.clientId, MCP_AGENT.clientSecret] })
  expect(res.status).toBe(200)
  return (await res.json()).access_token
}

const readResource = (bearer: string, uri: string) =>
  app.request(RESOURCE, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } }),
  }) as Promise<TestResponse>

describe('resources/read through mcpMiddleware and the MCP SDK', () => {
  it('reads a resource the grant covers', async () => {
    const res = await readResource(await publicReader(), PUBLIC)
    expect(res.status).toBe(200)
    expect((await res.json()).result.contents[0].uri).toBe(PUBLIC)
  })

  it.each([
    ['%2e%2e', 'https://docs.example.com/public/%2e%2e/secret'],
    ['.%2E', 'https://docs.example.com/public/.%2E/secret'],
    ['a tab inside ..', 'https://docs.example.com/public/.\t./secret'],
    ['backslashes', 'https://docs.example.com/public/x\\..\\..\\secret'],
    ['an upper-case scheme and host', 'HTTPS://DOCS.EXAMPLE.COM/public/%2e%2e/secret'],
  ])('refuses a uri the server would resolve elsewhere (%s), 400 naming params.uri', async (_name, uri) => {
    const before = read.length
    const res = await readResource(await publicReader(), uri)
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toBe('invalid_request')
    expect(body.error_description).toMatch(/params\.uri/)
    expect(read.slice(before)).toEqual([])
  })

  it('refuses an encoded slash or backslash, which a server decoding the path would split on', async () => {
    for (const uri of ['https://docs.example.com/public/..%2fsecret', 'https://docs.example.com/public/..%5Csecret']) {
      const res = await readResource(await publicReader(), uri)
      expect(res.status).toBe(400)
      expect((await res.json()).error_description).toMatch(/params\.uri/)
    }
  })
})
