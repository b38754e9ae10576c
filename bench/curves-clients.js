// Scaling curve: issuance over HTTP with N clients in the policy (all on the same rule), the load
// spread over every one of them in turn (each request carries the next client's credentials).
//
// Warm caches: the broker remembers a verified client secret (under an HMAC) for
// `clientAuth.secretCacheSeconds`, up to 10,000 secrets (src/client-auth/secret-cache.ts). Each
// point authenticates every client once before it is measured, with the cache's life set to an
// hour, so the measured requests never run argon2: the point measures what N clients cost when
// each of them is already known, not N argon2 runs. The secret hash is a cheap argon2id
// (m=1024 KiB, t=1) so warming 10,000 clients takes seconds; no measured request verifies it.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hash } from '@node-rs/argon2'
import { BROKER_CONFIG, basic, CONNECTIONS, httpRate, issuanceRequest, rateRows, twoPasses } from './curves-measure.js'
import { deletePrefix, startBenchBroker } from './lib.js'

const clientId = (i) => `bench-agent-${i}`

/** A policy of `n` clients sharing one secret (hash) and one rule. */
function writeClientsPolicy(n, secretHash) {
  const file = join(mkdtempSync(join(tmpdir(), 'writ-curves-clients-')), 'policy.yaml')
  const clients = Array.from(
    { length: n },
    (_, i) => `  - { id: ${clientId(i)}, auth: client_secret, secret_hash: "${secretHash}", rules: [docs-read], max_live_grants: 1000000 }\n`,
  ).join('')
  writeFileSync(
    file,
    `version: 1
clients:
${clients}rules:
  - { id: docs-read, match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }, max_ttl: 15m, approval: none }
`,
  )
  return file
}

/** autocannon options whose every request carries the next of `n` clients' credentials. */
function rotating(base, n, secret) {
  const { url, method, headers, body } = issuanceRequest(base, { clientId: clientId(0), secret })
  const path = new URL(url).pathname
  const auths = Array.from({ length: n }, (_, i) => basic(clientId(i), secret))
  let next = 0
  return {
    url,
    requests: [
      {
        method,
        path,
        body,
        headers,
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: auths[next++ % n] } }),
      },
    ],
  }
}

/** The curve over `points` (clients in the policy). */
export async function clientsCurve({ redisUrl, points, duration, warmup }) {
  const secret = randomBytes(24).toString('base64url')
  const secretHash = await hash(secret, { algorithm: 2, memoryCost: 1024, timeCost: 1, parallelism: 1 })
  // Every point warms up with as many requests, enough to go round the most clients.
  const warmRequests = Math.max(warmup, Math.max(...points) + 2 * CONNECTIONS)
  const rows = await twoPasses(points, async (n) => {
    const broker = await startBenchBroker({
      redisUrl,
      name: 'curves-clients',
      env: { WRIT_POLICY: writeClientsPolicy(n, secretHash) },
      config: { ...BROKER_CONFIG, clientAuth: { secretCacheSeconds: 3600 } },
    })
    try {
      const request = rotating(broker.base, n, secret)
      // The warm-up goes round every client at least once (argon2 runs, the secret is remembered;
      // the extra requests cover the ones each connection builds ahead), then the measured load
      // goes round them again, warm.
      return await httpRate(request, { duration, warmup: warmRequests, what: `${n} clients` })
    } finally {
      broker.child.kill('SIGTERM')
      await deletePrefix(redisUrl, broker.prefix)
    }
  })
  return rateRows(rows)
}
