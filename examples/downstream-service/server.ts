/**
 * A downstream service protected by writ's verifier: a tiny document store standing in for
 * https://git.example.com/acme/app. It accepts only writ tokens whose grants cover the request
 * (`repo read` for GET, `repo write` for PUT, on the document's path), and asks the broker's Redis
 * whether each grant is still live, so a revoked token stops working at once.
 *
 * Start the broker on Redis first (see docs/verifier.md, "The whole loop"), then:
 *
 *   npx tsx examples/downstream-service/server.ts
 *
 * Environment: WRIT_ISSUER (http://localhost:8080), REDIS_URL (redis://127.0.0.1:6379; in a
 * deployment, the least-privileged `writ-verifier` ACL user of deploy/redis/users.acl:
 * redis://writ-verifier:PASSWORD@host:6379), WRIT_KEY_PREFIX (writ:), HOST (127.0.0.1), PORT (8081).
 *
 * A real service imports from 'writ/verifier'; this example imports the source so it runs
 * without a build.
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { createVerifier, writMiddleware, type WritVariables } from '../../src/verifier/index.js'

const issuer = (process.env.WRIT_ISSUER ?? 'http://localhost:8080').replace(/\/+$/, '')
const port = Number(process.env.PORT ?? 8081)
/** The repository this service serves: the `aud` and `locations` its tokens must name. */
const LOCATION = 'https://git.example.com/acme/app'

const verifier = createVerifier({
  issuer,
  audience: LOCATION,
  jwksUri: `${issuer}/.well-known/jwks.json`,
  liveness: {
    mode: 'redis',
    redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    keyPrefix: process.env.WRIT_KEY_PREFIX ?? 'writ:',
    onError: (err) => console.warn(`redis: ${err.message}`),
  },
  realm: 'acme-app-docs',
})

const documents = new Map<string, string>([
  ['docs/README.md', '# acme/app\n\nThe documentation.\n'],
])

const app = new Hono<{ Variables: WritVariables }>()

app.get('/healthz', (c) => c.json(verifier.status()))

app.use(
  '/docs/*',
  writMiddleware(verifier, {
    // The request's action on the resource: the identifier is the path, e.g. docs/README.md.
    authorize: (c) => ({
      type: 'repo',
      action: c.req.method === 'GET' || c.req.method === 'HEAD' ? 'read' : 'write',
      resource: { location: LOCATION, identifier: c.req.path.slice(1) },
    }),
  }),
)

app.get('/docs/*', (c) => {
  const body = documents.get(c.req.path.slice(1))
  if (body === undefined) return c.json({ error: 'not_found' }, 404)
  const claims = c.get('writClaims')
  c.header('X-Writ-Task', claims.task?.id ?? '')
  return c.text(body)
})

app.put('/docs/*', async (c) => {
  documents.set(c.req.path.slice(1), await c.req.text())
  return c.body(null, 204)
})

const hostname = process.env.HOST ?? '127.0.0.1'
const server = serve({ fetch: app.fetch, port, hostname }, (info) => {
  console.log(`downstream service on http://${hostname}:${info.port} (tokens from ${issuer})`)
})

const stop = (): void => {
  server.close(() => {
    verifier.close().finally(() => process.exit(0))
  })
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
