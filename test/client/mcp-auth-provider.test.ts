import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type McpExample, startMcpExample } from '../../examples/mcp-server/app.js'
import { type PendingApproval, WritClientError, WritMcpAuthProvider } from '../../src/client/index.js'
import { createMcpProtection } from '../../src/verifier/index.js'
import {
  type ApprovalBroker,
  ceremonyOptions,
  enrol,
  ISSUER,
  makeApprovalBroker,
  submit,
} from '../approvals/helpers.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { EXAMPLE_SCOPES, MCP_AGENT, mcpGrant, mcpPolicyText } from '../helpers/mcp.js'
import { freePort } from '../helpers/redis.js'

/**
 * writ/client's MCP auth provider in the official SDK's client: a dangerous tool's grant waits
 * for a real approval (a software authenticator's WebAuthn assertion), then the call runs.
 */
let broker: ApprovalBroker
let alice: SoftAuthenticator
let example: McpExample
let resource: string
const runs: Array<{ tool: string; approvers: string[] }> = []

beforeAll(async () => {
  broker = await makeApprovalBroker({ policyText: await mcpPolicyText() })
  alice = broker.authenticator()
  await enrol(broker, alice, 'alice@example.com', 'release-managers')
  const port = await freePort()
  resource = `http://127.0.0.1:${port}/mcp`
  const protection = createMcpProtection({
    resource,
    issuer: ISSUER,
    jwksUri: `${ISSUER}/.well-known/jwks.json`,
    fetch: async (input, init) => broker.app.request(String(input), init),
    clock: () => broker.clock(),
    liveness: { mode: 'none' },
    scopes: EXAMPLE_SCOPES,
  })
  example = await startMcpExample({
    protection,
    port,
    onToolRun: (tool, claims) => runs.push({ tool, approvers: claims?.approval?.approvers.map((a) => a.sub) ?? [] }),
  })
}, 30_000)

afterAll(async () => {
  await example?.close()
  await broker?.close()
})

/** A provider talking to the in-process broker; polling advances the broker's clock. */
function provider(identifiers: string[], onPending: (p: PendingApproval) => Promise<unknown>) {
  let approving: Promise<unknown> = Promise.resolve()
  return new WritMcpAuthProvider({
    broker: ISSUER,
    credentials: MCP_AGENT,
    manifest: {
      task: { id: 'REL-42', purpose: 'ship release 4.2', requested_by: 'carol@example.com' },
      ttl: '5m',
      grants: identifiers.map((identifier) => mcpGrant(resource, identifier)),
    },
    fetch: async (input, init) => broker.app.request(String(input), init),
    now: () => broker.clock(),
    sleep: async (ms) => {
      await approving
      broker.clock.advance(ms)
    },
    onPending: (pending) => {
      approving = onPending(pending)
    },
  })
}

async function connect(authProvider: WritMcpAuthProvider): Promise<Client> {
  // The SDK's own provider interface: a compile-time check that writ's provider fits it.
  const sdkProvider: OAuthClientProvider = authProvider
  const client = new Client({ name: 'deploy-agent', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(example.url), { authProvider: sdkProvider }))
  return client
}

const idOf = (pending: PendingApproval) => pending.authReqId.split('.')[0]!

describe('WritMcpAuthProvider with the MCP SDK client', () => {
  it('waits through a human approval for deploy_prod, then the call runs with the approver in its token', async () => {
    const pendings: PendingApproval[] = []
    const authProvider = provider(['deploy_prod', 'search_docs'], async (pending) => {
      pendings.push(pending)
      const options = await ceremonyOptions(broker, idOf(pending), 'approve')
      const res = await submit(broker, idOf(pending), 'approve', alice.assert(options))
      expect(res.status).toBe(200)
    })
    const client = await connect(authProvider)
    try {
      expect(pendings).toHaveLength(1)
      expect(runs).toEqual([])
      const result = await client.callTool({ name: 'deploy_prod', arguments: { version: 'v4.2.0' } })
      expect(result.content).toEqual([{ type: 'text', text: 'deployed v4.2.0 to production (approved by alice@example.com)' }])
      expect(runs).toEqual([{ tool: 'deploy_prod', approvers: ['alice@example.com'] }])
      // The same token serves the next calls: no second approval.
      await client.callTool({ name: 'search_docs', arguments: { query: 'build' } })
      expect(pendings).toHaveLength(1)
      const listed = await client.listTools()
      expect(listed.tools.map((t) => t.name).sort()).toEqual(['deploy_prod', 'search_docs'])
    } finally {
      await client.close()
    }
  })

  it('rejects the MCP call with access_denied when the approver denies, and no tool runs', async () => {
    const before = runs.length
    const authProvider = provider(['deploy_prod'], async (pending) => {
      const options = await ceremonyOptions(broker, idOf(pending), 'deny')
      const res = await submit(broker, idOf(pending), 'deny', alice.assert(options))
      expect(res.status).toBe(200)
    })
    const failed = await connect(authProvider).catch((e: unknown) => e)
    expect(failed).toBeInstanceOf(WritClientError)
    expect((failed as WritClientError).code).toBe('access_denied')
    expect(runs.length).toBe(before)
  })

  it('asks the SDK flow for the same grants at the token endpoint, and refuses the interactive flow', () => {
    const authProvider = provider(['search_docs'], async () => {})
    const params = authProvider.prepareTokenRequest()
    expect(params.get('grant_type')).toBe('client_credentials')
    expect(JSON.parse(params.get('authorization_details')!)).toEqual([mcpGrant(resource, 'search_docs')])
    expect(params.get('task_id')).toBe('REL-42')
    expect(authProvider.redirectUrl).toBeUndefined()
    expect(() => authProvider.redirectToAuthorization()).toThrow(WritClientError)
  })
})
