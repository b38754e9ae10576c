import { describe, expect, it } from 'vitest'
import { type AccessTokenClaims, guardToolsList, mcpAuthInfo } from '../../../src/verifier/index.js'

const HERE = 'https://mcp.example.com/mcp'
const claims: AccessTokenClaims = {
  iss: 'https://writ.example.com',
  sub: 'agent',
  aud: HERE,
  exp: 2_000_000_000,
  iat: 1_000_000_000,
  jti: 'g1',
  client_id: 'agent',
  authorization_details: [{ type: 'mcp', actions: ['tools/call'], locations: [HERE], identifier: 'search_*' }],
}
const ALL = { tools: [{ name: 'search_docs' }, { name: 'deploy_prod' }] }

/** A transport the way the SDK's look from the server: onmessage in, send out (recorded). */
function fakeTransport() {
  const sent: unknown[] = []
  const received: unknown[] = []
  const transport = {
    onmessage(message: unknown, _extra?: unknown) {
      received.push(message)
    },
    async send(message: unknown) {
      sent.push(message)
    },
  }
  return { transport, sent, received }
}

describe('guardToolsList', () => {
  const authInfo = mcpAuthInfo(claims, 'token', HERE)

  it('filters a tools/list answer to the tools its request token may call', async () => {
    const { transport, sent, received } = fakeTransport()
    guardToolsList(transport, { resource: HERE })
    transport.onmessage({ jsonrpc: '2.0', id: 1, method: 'tools/list' } as never, { authInfo })
    expect(received).toHaveLength(1)
    await transport.send({ jsonrpc: '2.0', id: 1, result: ALL } as never)
    expect(sent).toEqual([{ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'search_docs' }] } }])
  })

  it('still filters when the client reused the id for another call answered first', async () => {
    const { transport, sent } = fakeTransport()
    guardToolsList(transport, { resource: HERE })
    transport.onmessage({ jsonrpc: '2.0', id: 7, method: 'tools/list' } as never, { authInfo })
    transport.onmessage({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'search_docs' } } as never, { authInfo })
    await transport.send({ jsonrpc: '2.0', id: 7, result: { content: [] } } as never)
    await transport.send({ jsonrpc: '2.0', id: 7, result: ALL } as never)
    expect(sent[1]).toEqual({ jsonrpc: '2.0', id: 7, result: { tools: [{ name: 'search_docs' }] } })
  })

  it('lists no tools for a request without writ claims, or an answer no tools/list asked for', async () => {
    const { transport, sent } = fakeTransport()
    guardToolsList(transport, { resource: HERE })
    transport.onmessage({ jsonrpc: '2.0', id: 1, method: 'tools/list' } as never, {})
    await transport.send({ jsonrpc: '2.0', id: 1, result: ALL } as never)
    await transport.send({ jsonrpc: '2.0', id: 2, result: ALL } as never)
    expect(sent).toEqual([
      { jsonrpc: '2.0', id: 1, result: { tools: [] } },
      { jsonrpc: '2.0', id: 2, result: { tools: [] } },
    ])
  })

  it('must be called after connect', () => {
    expect(() => guardToolsList({ async send() {} }, { resource: HERE })).toThrow(TypeError)
  })
})
