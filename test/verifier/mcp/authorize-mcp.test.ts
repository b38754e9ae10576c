import { describe, expect, it } from 'vitest'
import {
  type AccessTokenClaims,
  authorizeMcp,
  filterToolsList,
  readMcpCalls,
  VerifierError,
} from '../../../src/verifier/index.js'

const HERE = 'https://mcp.example.com/mcp'
const scopes = {
  'mcp:docs': [{ actions: ['tools/call' as const], identifier: 'search_*' }, { actions: ['resources/read' as const] }],
  'mcp:deploy': [{ actions: ['tools/call' as const], identifier: 'deploy_*' }],
}

const claims = (details: unknown[], aud: string | string[] = HERE): AccessTokenClaims => ({
  iss: 'https://writ.example.com',
  sub: 'agent',
  aud,
  exp: 2_000_000_000,
  iat: 1_000_000_000,
  jti: 'g1',
  client_id: 'agent',
  authorization_details: details as AccessTokenClaims['authorization_details'],
})

const grant = (identifier: string | undefined, actions = ['tools/call'], locations = [HERE]) => ({
  type: 'mcp',
  actions,
  locations,
  ...(identifier === undefined ? {} : { identifier }),
})

const rpc = (method: string, params?: unknown, id: number | undefined = 1) => ({
  jsonrpc: '2.0',
  ...(id === undefined ? {} : { id }),
  method,
  ...(params === undefined ? {} : { params }),
})

/** The VerifierError authorizeMcp throws, or undefined when it allows the body. */
function refusal(token: AccessTokenClaims, body: unknown): VerifierError | undefined {
  try {
    authorizeMcp(token, readMcpCalls(body), { resource: HERE, scopes })
    return undefined
  } catch (err) {
    if (err instanceof VerifierError) return err
    throw err
  }
}

describe('authorizeMcp', () => {
  const searcher = claims([grant('search_*')])

  it('allows a tool call its grant names by glob, and refuses another tool with the scope that would allow it', () => {
    expect(refusal(searcher, rpc('tools/call', { name: 'search_docs' }))).toBeUndefined()
    const refused = refusal(searcher, rpc('tools/call', { name: 'deploy_prod' }))
    expect(refused?.status).toBe(403)
    expect(refused?.code).toBe('insufficient_scope')
    expect(refused?.scope).toBe('mcp:deploy')
    expect(refused?.message).toBe(`the token does not allow tools/call deploy_prod on ${HERE}`)
    expect(refused?.wwwAuthenticate({ resourceMetadata: 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp' })).toBe(
      'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", ' +
        `error="insufficient_scope", error_description="the token does not allow tools/call deploy_prod on ${HERE}", scope="mcp:deploy"`,
    )
  })

  it('reads resources/read by uri and prompts/get by name, each against its own action', () => {
    const reader = claims([grant('docs://**', ['resources/read']), grant('review', ['prompts/get'])])
    expect(refusal(reader, rpc('resources/read', { uri: 'docs://readme/part' }))).toBeUndefined()
    expect(refusal(reader, rpc('prompts/get', { name: 'review' }))).toBeUndefined()
    expect(refusal(reader, rpc('resources/read', { uri: 'file:///etc/passwd' }))?.code).toBe('insufficient_scope')
    // The action matters: a prompt grant is no tool grant.
    expect(refusal(reader, rpc('tools/call', { name: 'review' }))?.code).toBe('insufficient_scope')
    // No dot segments past a glob.
    expect(refusal(reader, rpc('resources/read', { uri: 'docs://readme/../../secrets' }))?.code).toBe('insufficient_scope')
  })

  it('refuses a whole batch when one call is not allowed, naming it', () => {
    const body = [rpc('tools/call', { name: 'search_docs' }, 1), rpc('tools/call', { name: 'deploy_prod' }, 2)]
    const refused = refusal(searcher, body)
    expect(refused?.code).toBe('insufficient_scope')
    expect(refused?.message).toBe(`message 1 of the batch: the token does not allow tools/call deploy_prod on ${HERE}`)
    expect(refusal(searcher, [body[0], rpc('notifications/initialized', undefined, undefined)])).toBeUndefined()
  })

  it('lets a holder of a grant for this server initialize, ping, list and notify; refuses other methods', () => {
    for (const method of ['initialize', 'ping', 'tools/list', 'resources/list', 'prompts/list']) {
      expect(refusal(searcher, rpc(method, {}))).toBeUndefined()
    }
    expect(refusal(searcher, rpc('notifications/cancelled', { requestId: 1 }, undefined))).toBeUndefined()
    expect(refusal(searcher, { jsonrpc: '2.0', id: 5, result: {} })).toBeUndefined()
    const other = refusal(searcher, rpc('completion/complete', {}))
    expect(other?.code).toBe('insufficient_scope')
    expect(other?.message).toContain('completion/complete is not allowed')
  })

  it('refuses everything, lists included, to a token whose mcp grants are for another server', () => {
    const elsewhere = claims([grant('*', ['tools/call'], ['https://other.example.com/mcp'])], [HERE, 'https://other.example.com/mcp'])
    const refused = refusal(elsewhere, rpc('tools/list', {}))
    expect(refused?.message).toBe(`the token holds no mcp grant for ${HERE}`)
    expect(refused?.scope).toBe('mcp:docs mcp:deploy')
    // A grant of another type at this location is no mcp grant either.
    expect(refusal(claims([{ type: 'repo', actions: ['tools/call'], locations: [HERE] }]), rpc('ping'))?.code).toBe(
      'insufficient_scope',
    )
  })

  it('answers malformed JSON-RPC with invalid_request naming the member', () => {
    const bad = (body: unknown) => {
      try {
        readMcpCalls(body)
        return undefined
      } catch (err) {
        return err as VerifierError
      }
    }
    expect(bad(rpc('tools/call', {}))?.message).toBe('the JSON-RPC message: tools/call needs params.name (a non-empty string)')
    expect(bad(rpc('resources/read', { uri: 7 }))?.message).toBe(
      'the JSON-RPC message: resources/read needs params.uri (a non-empty string)',
    )
    expect(bad([])?.message).toBe('the JSON-RPC batch is empty')
    expect(bad('x')?.message).toBe('the JSON-RPC message must be a JSON-RPC message (an object)')
    expect(bad([rpc('ping'), { jsonrpc: '2.0', id: 2 }])?.message).toBe('message 1 of the batch has no method')
    expect(bad(Array.from({ length: 101 }, () => rpc('ping')))?.message).toContain('at most 100')
    expect(bad(rpc('tools/call', {}))?.status).toBe(400)
  })

  it('filters a tool list to the tools the token may call, and to none without claims', () => {
    const tools = [{ name: 'search_docs' }, { name: 'search_code' }, { name: 'deploy_prod' }]
    expect(filterToolsList(searcher, tools, HERE).map((t) => t.name)).toEqual(['search_docs', 'search_code'])
    expect(filterToolsList(claims([grant(undefined)]), tools, HERE)).toHaveLength(3)
    expect(filterToolsList(undefined, tools, HERE)).toEqual([])
    expect(filterToolsList(searcher, tools, 'https://other.example.com/mcp')).toEqual([])
  })
})
