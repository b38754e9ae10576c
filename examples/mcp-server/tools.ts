/**
 * The example MCP server's tools, resource and prompt, on the official SDK's `McpServer`:
 * `search_docs` and `create_issue` (everyday), `deploy_prod` (dangerous: a policy should demand a
 * human approval for it), the resource `docs://readme` and the prompt `review_change`.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { type AccessTokenClaims, writClaimsOf } from '../../src/verifier/index.js'

/** Called when a tool handler runs, with the writ claims of the request (absent when unprotected). */
export type ToolRunListener = (tool: string, claims: AccessTokenClaims | undefined) => void

const DOCS = [
  { path: 'docs/README.md', text: 'acme/app: how to build, test and deploy' },
  { path: 'docs/deploy.md', text: 'deploys go through deploy_prod after review' },
]

/** A fresh `McpServer` with the example's tools (one per request: the server is stateless). */
export function buildMcpServer(onToolRun: ToolRunListener = () => {}): McpServer {
  const server = new McpServer({ name: 'writ-example', version: '1.0.0' })
  let issues = 0

  server.registerTool(
    'search_docs',
    {
      description: 'Search the project documentation',
      inputSchema: { query: z.string().min(1).max(200) },
      annotations: { readOnlyHint: true },
    },
    async ({ query }, extra) => {
      onToolRun('search_docs', writClaimsOf(extra.authInfo))
      const hits = DOCS.filter((doc) => doc.text.includes(query.toLowerCase()))
      return { content: [{ type: 'text', text: hits.map((doc) => doc.path).join('\n') || 'no match' }] }
    },
  )

  server.registerTool(
    'create_issue',
    {
      description: 'Open an issue in the tracker',
      inputSchema: { title: z.string().min(1).max(200) },
    },
    async ({ title }, extra) => {
      onToolRun('create_issue', writClaimsOf(extra.authInfo))
      issues += 1
      return { content: [{ type: 'text', text: `created issue #${issues}: ${title}` }] }
    },
  )

  server.registerTool(
    'deploy_prod',
    {
      description: 'Deploy a version to production (dangerous)',
      inputSchema: { version: z.string().regex(/^v\d+\.\d+\.\d+$/) },
      annotations: { destructiveHint: true },
    },
    async ({ version }, extra) => {
      const claims = writClaimsOf(extra.authInfo)
      onToolRun('deploy_prod', claims)
      const approvers = claims?.approval?.approvers.map((a) => a.sub).join(', ')
      const by = approvers ? ` (approved by ${approvers})` : ''
      return { content: [{ type: 'text', text: `deployed ${version} to production${by}` }] }
    },
  )

  server.registerResource(
    'readme',
    'docs://readme',
    { description: 'The project README', mimeType: 'text/markdown' },
    async (uri) => ({ contents: [{ uri: uri.href, text: DOCS[0]!.text }] }),
  )

  server.registerPrompt(
    'review_change',
    { description: 'Review a change', argsSchema: { diff: z.string() } },
    ({ diff }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Review this change:\n${diff}` } }],
    }),
  )

  return server
}
