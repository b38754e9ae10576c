import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTestBroker, type TestBroker } from '../helpers/broker.js'
import { GATEWAY, MCP_SECRET, mcpPolicyText } from '../helpers/mcp-policy.js'
import { ACCESS_TOKEN, claimsOf, TOKEN_EXCHANGE } from './helpers.js'

/**
 * A parent whose audience is a resource its rule names (a gateway in front of the repository),
 * not a location of its grant: the child keeps that audience, and never moves to the repository.
 */
let broker: TestBroker
const AGENT: [string, string] = ['mcp-agent', MCP_SECRET]
const DOCS = [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }]

beforeAll(async () => {
  const policyText = (await mcpPolicyText()).replace(
    'rules: [mcp-deploy, mcp-read, mcp-resources, docs-read]',
    'rules: [mcp-deploy, mcp-read, mcp-resources, docs-read]\n    delegate_to: { clients: [mcp-agent], max_depth: 1 }',
  )
  broker = await makeTestBroker({ policyText })
})
afterAll(() => broker.close())

const token = (params: Record<string, string>) =>
  broker.call('POST', '/oauth/token', {
    basic: AGENT,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  })

describe('token exchange of a parent for a resource its rule names', () => {
  it('keeps the rule-named audience', async () => {
    const issued = await token({
      grant_type: 'client_credentials',
      authorization_details: JSON.stringify(DOCS),
      task_id: 'T-GW',
      resource: GATEWAY,
    })
    expect(issued.status).toBe(200)
    const parent = (await issued.json()).access_token as string
    expect(claimsOf(parent).aud).toBe(GATEWAY)
    const exchanged = await token({
      grant_type: TOKEN_EXCHANGE,
      subject_token: parent,
      subject_token_type: ACCESS_TOKEN,
      authorization_details: JSON.stringify(DOCS),
    })
    expect(exchanged.status).toBe(200)
    expect(claimsOf((await exchanged.json()).access_token).aud).toBe(GATEWAY)
  })
})
