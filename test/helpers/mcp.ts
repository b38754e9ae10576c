import { hashSecret } from '../../src/client-auth/index.js'
import { requestToken } from '../../src/client/index.js'
import { createMcpProtection, type McpProtection } from '../../src/verifier/index.js'
import type { HttpBroker } from './http-broker.js'

export const MCP_AGENT = { clientId: 'mcp-agent', clientSecret: 'mcp-agent-secret' } as const

/** What each scope of the example server allows (examples/mcp-server/server.ts). */
export const EXAMPLE_SCOPES = {
  'mcp:docs': [{ actions: ['tools/call' as const], identifier: 'search_docs' }, { actions: ['resources/read' as const] }],
  'mcp:issues': [{ actions: ['tools/call' as const], identifier: 'create_issue' }],
  'mcp:deploy': [{ actions: ['tools/call' as const], identifier: 'deploy_*' }],
}

/**
 * A policy for MCP servers on loopback: `mcp-agent` may call any tool and read any resource without
 * approval, but `deploy_*` tools need one release manager (alice).
 */
export async function mcpPolicyText(): Promise<string> {
  return `
version: 1
clients:
  - id: ${MCP_AGENT.clientId}
    auth: client_secret
    secret_hash: "${await hashSecret(MCP_AGENT.clientSecret)}"
    rules: [mcp-deploy, mcp-tools, mcp-resources]
approver_groups:
  - id: release-managers
    members: [alice@example.com]
rules:
  # First match wins (file order): the dangerous tools come before the catch-all.
  - id: mcp-deploy
    match: { type: mcp, actions: [tools/call], locations: ["http://127.0.0.1:*/mcp"], identifier: "deploy_*" }
    max_ttl: 5m
    approval: { approvers: 1, from: release-managers }
  - id: mcp-tools
    match: { type: mcp, actions: [tools/call], locations: ["http://127.0.0.1:*/mcp"], identifier: "*" }
    max_ttl: 10m
    approval: none
  - id: mcp-resources
    match: { type: mcp, actions: [resources/read], locations: ["http://127.0.0.1:*/mcp"], identifier: "**" }
    max_ttl: 10m
    approval: none
`
}

/** An `mcp` grant on `resource`. */
export const mcpGrant = (resource: string, identifier: string, actions = ['tools/call']) => ({
  type: 'mcp',
  actions,
  locations: [resource],
  identifier,
})

/** A writ token for `grants`, through writ/client (POST /v1/tokens). */
export async function mcpToken(broker: HttpBroker, grants: ReturnType<typeof mcpGrant>[], task = 'MCP-1'): Promise<string> {
  const result = await requestToken({
    broker: broker.url,
    credentials: MCP_AGENT,
    manifest: { task: { id: task, purpose: 'call MCP tools' }, ttl: '5m', grants },
  })
  return result.accessToken
}

/** The protection the example server runs with, against `broker`'s Redis. */
export function exampleProtection(broker: HttpBroker, resource: string): McpProtection {
  return createMcpProtection({
    resource,
    issuer: broker.url,
    jwksUri: `${broker.url}/.well-known/jwks.json`,
    liveness: { mode: 'redis', redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: broker.prefix },
    scopes: EXAMPLE_SCOPES,
  })
}
