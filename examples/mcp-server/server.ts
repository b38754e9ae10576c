/**
 * An MCP server on the official TypeScript SDK (Streamable HTTP), protected by writ: start the
 * broker on Redis (docs/verifier.md, "Protecting an MCP server"), then
 *
 *   npx tsx examples/mcp-server/server.ts
 *
 * Environment: WRIT_ISSUER (http://localhost:8080), REDIS_URL (redis://127.0.0.1:6379; in a
 * deployment the `writ-verifier` ACL user), WRIT_KEY_PREFIX (writ:), HOST (127.0.0.1),
 * PORT (8082), MCP_RESOURCE (http://HOST:PORT/mcp: the canonical URI tokens must name).
 *
 * A real server imports from 'writ/verifier'; this example imports the source so it runs without
 * a build.
 */
import { createMcpProtection } from '../../src/verifier/index.js'
import { startMcpExample } from './app.js'

const issuer = (process.env.WRIT_ISSUER ?? 'http://localhost:8080').replace(/\/+$/, '')
const hostname = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 8082)
const resource = process.env.MCP_RESOURCE ?? `http://${hostname}:${port}/mcp`

const protection = createMcpProtection({
  resource,
  issuer,
  jwksUri: `${issuer}/.well-known/jwks.json`,
  liveness: {
    mode: 'redis',
    redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    keyPrefix: process.env.WRIT_KEY_PREFIX ?? 'writ:',
    onError: (err) => console.warn(`redis: ${err.message}`),
  },
  resourceName: 'writ example MCP server',
  // What each scope allows here; a 403 names the scope that would allow the refused call.
  scopes: {
    'mcp:docs': [{ actions: ['tools/call'], identifier: 'search_docs' }, { actions: ['resources/read'] }],
    'mcp:issues': [{ actions: ['tools/call'], identifier: 'create_issue' }],
    'mcp:deploy': [{ actions: ['tools/call'], identifier: 'deploy_*' }],
  },
})

const example = await startMcpExample({ protection, port, hostname })
console.log(`MCP server on ${example.url} (resource ${resource}, tokens from ${issuer})`)

const stop = (): void => {
  example.close().finally(() => process.exit(0))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
