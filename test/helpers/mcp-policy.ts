import { hashSecret } from '../../src/client-auth/index.js'

export const MCP_URL = 'https://mcp.example.com/mcp'
export const OTHER_MCP_URL = 'https://mcp.other.example/mcp'
export const GATEWAY = 'https://gateway.example.com/api'
export const MCP_SECRET = 'mcp-agent secret: 9f3c'

let hash: Promise<string> | undefined

/**
 * A policy for resource indicators, scopes and MCP grants: an MCP server whose `get_*` tools are
 * free and whose `deploy_*` tools need 1 of release-managers; repo docs readable, also through a
 * gateway a rule names as a resource; scopes for both. `webhook`: release-managers are notified
 * (the approval tests' broker provides the secret).
 */
export async function mcpPolicyText(options: { webhook?: boolean } = {}): Promise<string> {
  hash ??= hashSecret(MCP_SECRET)
  return `
version: 1
clients:
  - id: mcp-agent
    auth: client_secret
    secret_hash: "${await hash}"
    rules: [mcp-deploy, mcp-read, mcp-resources, docs-read]
approver_groups:
  - id: release-managers
    members: [alice@example.com, bob@example.com]
${options.webhook ? '    webhook: { url: "https://hooks.example.com/writ", secret_env: WRIT_TEST_WEBHOOK_SECRET }' : ''}
rules:
  - id: mcp-deploy
    match: { type: mcp, actions: [tools/call], locations: ["${MCP_URL}"], identifier: "deploy_*" }
    max_ttl: 10m
    approval: { approvers: 1, from: release-managers, forbid_self_approval: false }
  - id: mcp-read
    match: { type: mcp, actions: [tools/call, prompts/get], locations: ["${MCP_URL}", "${OTHER_MCP_URL}"], identifier: "get_*" }
    max_ttl: 5m
    approval: none
  - id: mcp-resources
    match: { type: mcp, actions: [resources/read], locations: ["${MCP_URL}"], identifier: "repo://**" }
    max_ttl: 5m
    approval: none
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
    resources: ["https://gateway.example.com/*"]
scopes:
  - name: mcp:github:read
    description: The read-only tools of an MCP server
    grants:
      - { type: mcp, actions: [tools/call], identifier: "get_*" }
  - name: mcp:resources
    grants:
      - { type: mcp, actions: [resources/read], identifier: "repo://**" }
  - name: mcp:deploy
    grants:
      - { type: mcp, actions: [tools/call], identifier: "deploy_*" }
  - name: docs:read
    grants:
      - { type: repo, actions: [read], locations: ["https://git.example.com/acme/app"], identifier: "docs/**" }
`
}
