// Scaling curve: revocation propagation to N subscribed verifiers (`writ/verifier` from dist/,
// liveness `redis`), all in this one process. Each round issues a token, has every verifier confirm
// it live (so each holds exactly that grant in its cache of confirmed grants), revokes it with
// `POST /oauth/revoke`, and times, from sending the revocation, until every verifier has dropped
// the grant: read from the verifiers' own state (`status().cachedGrants` back to 0), not by
// verifying again, so the bench's own checking costs next to nothing.
import { createVerifier } from '../dist/verifier/index.js'
import { BROKER_CONFIG, basic, grant, issuanceRequest, percentile, twoPasses } from './curves-measure.js'
import { deletePrefix, startBenchBroker } from './lib.js'

const AUDIENCE = 'https://git.example.com/acme/app'
const yieldToIo = () => new Promise((r) => setImmediate(r))
const two = (x) => +x.toFixed(2)

/** N verifiers, each with its own lookup and subscription connections, once all are subscribed. */
async function startVerifiers(n, broker, redisUrl) {
  const verifiers = Array.from({ length: n }, () =>
    createVerifier({
      issuer: broker.base,
      audience: AUDIENCE,
      jwksUri: `${broker.base}/.well-known/jwks.json`,
      liveness: { mode: 'redis', redis: redisUrl, keyPrefix: broker.prefix, cacheTtlSeconds: 600, commandTimeoutMs: 5000 },
    }),
  )
  const deadline = Date.now() + 20_000
  while (!verifiers.every((v) => v.status().subscribed)) {
    if (Date.now() > deadline) {
      await Promise.all(verifiers.map((v) => v.close()))
      throw new Error(`${n} verifiers did not all subscribe`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return verifiers
}

/**
 * Milliseconds from sending the revocation of a fresh token until all `verifiers` dropped it, and
 * until each did.
 */
async function round(broker, verifiers) {
  const issue = issuanceRequest(broker.base, { secret: broker.secret, grants: [grant()] })
  const res = await fetch(issue.url, issue)
  if (res.status !== 200) throw new Error(`issuance answered ${res.status}`)
  const token = (await res.json()).access_token
  // Every verifier confirms the grant live and caches it (a confirmation racing a message is not
  // cached, so ask again until each holds it).
  for (let attempt = 0; !verifiers.every((v) => v.status().cachedGrants === 1); attempt++) {
    if (attempt === 5) throw new Error('a verifier does not cache the live grant')
    await Promise.all(verifiers.map((v) => (v.status().cachedGrants === 1 ? undefined : v.verify(token))))
  }
  const started = performance.now()
  const revoked = fetch(`${broker.base}/oauth/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('bench-agent', broker.secret) },
    body: new URLSearchParams({ token }).toString(),
  })
  const giveUp = started + 10_000
  const each = []
  let holding = verifiers
  while (holding.length > 0) {
    if (performance.now() > giveUp) throw new Error('a verifier still holds the grant 10 s after its revocation')
    await yieldToIo()
    const now = performance.now()
    holding = holding.filter((v) => v.status().cachedGrants !== 0 || (each.push(now - started), false))
  }
  const all = performance.now() - started
  const answer = await revoked
  if (answer.status !== 200) throw new Error(`revocation answered ${answer.status}`)
  return { all, each }
}

/** The curve over `points` (verifiers subscribed), `rounds` revocations per point and pass. */
export async function verifiersCurve({ redisUrl, points, rounds }) {
  const broker = await startBenchBroker({ redisUrl, name: 'curves-verifiers', config: BROKER_CONFIG })
  try {
    const rows = await twoPasses(points, async (n) => {
      const verifiers = await startVerifiers(n, broker, redisUrl)
      try {
        // Warm-up: keys fetched, connections and code paths hot.
        for (let i = 0; i < 5; i++) await round(broker, verifiers)
        const ms = []
        const each = []
        for (let i = 0; i < rounds; i++) {
          const r = await round(broker, verifiers)
          ms.push(r.all)
          each.push(...r.each)
        }
        return { ms, each }
      } finally {
        await Promise.all(verifiers.map((v) => v.close()))
      }
    })
    const summary = rows.map(({ point, ms, each }) => {
      const sorted = ms.sort((a, b) => a - b)
      const eachSorted = each.sort((a, b) => a - b)
      return {
        point,
        p50Ms: two(percentile(sorted, 50)),
        p99Ms: two(percentile(sorted, 99)),
        rounds: sorted.length,
        // Until one verifier dropped it (every verifier in every round): what a service sees.
        eachP50Ms: two(percentile(eachSorted, 50)),
        eachP99Ms: two(percentile(eachSorted, 99)),
      }
    })
    return summary.map((r) => ({
      ...r,
      cost: +(r.p50Ms / summary[0].p50Ms).toFixed(3),
      p99Cost: +(r.p99Ms / summary[0].p99Ms).toFixed(3),
    }))
  } finally {
    broker.child.kill('SIGTERM')
    await deletePrefix(redisUrl, broker.prefix)
  }
}
