#!/usr/bin/env node
// Scaling curves: how the cost of the broker's work moves as what surrounds it grows. Each curve is
// reported as the cost of each point relative to its own smallest point, measured in the same run
// (the machine is shared and absolute numbers drift), in bench/results/curves.json, and drawn in
// bench/results/curves.svg (bench/curves-svg.js). Goal: within 1.2x of the smallest point at the
// largest, except grants per manifest, where the work itself grows (expected: linear, a small
// constant per grant).
//
//   - rules: issuance over HTTP with 10 .. 10,000 rules the client may use, the matching one last,
//     and the policy decision alone for the same policies, in process;
//   - live grants, embedded store: grants recorded per second while the client holds 10 .. 100,000
//     live grants, in process;
//   - live grants, Redis: issuance over HTTP while the client holds 10 .. 100,000 live grants
//     (`--live-grants-max 1000000` goes to the policy's cap of 1,000,000 less 10,000 for the point's
//     own tokens; bench/curves-live-grants.js), and Redis memory per live grant;
//   - grants per manifest: issuance of a manifest of 1, 10 and 50 grants;
//   - clients: issuance over HTTP spread over 1 .. 10,000 clients, warm (bench/curves-clients.js);
//   - verifiers: time from revoking a grant until 1 .. 100 subscribed verifiers (one process) have
//     all dropped it, p50 and p99 (bench/curves-verifiers.js).
//
// Points are measured in two passes, the second in reverse order, and averaged. The Redis curves
// run on a private redis-server unless --redis-url names one. About 8 minutes on 2 cores with the
// defaults, 9 with --live-grants-max 1000000 (filling 990,000 grants through the store takes about
// 2); --quick (1 s points, fewer rounds, smaller largest points) about 4. --only measures and
// writes only the curves named.
//
//   node bench/curves.js [--duration 4] [--quick] [--live-grants-max 1000000] [--only clients,verifiers]
import { writeFileSync, mkdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { clientsCurve } from './curves-clients.js'
import { liveGrantsCurve, QUOTA_CAP } from './curves-live-grants.js'
import { BROKER_CONFIG, grant, httpRate, issuanceRequest, rateRows, twoPasses, CONNECTIONS } from './curves-measure.js'
import { drawCurves } from './curves-svg.js'
import { verifiersCurve } from './curves-verifiers.js'
import { deletePrefix, root, startBenchBroker, startRedisServer } from './lib.js'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'live-grants-max': { type: 'string' },
    'verifier-rounds': { type: 'string' },
    only: { type: 'string' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL },
  },
})
const quick = args.quick
const duration = Number(args.duration ?? (quick ? 1 : 4))
/** Requests each HTTP point sends before it is measured. */
const warmup = quick ? 2000 : 6000
const verifierRounds = Number(args['verifier-rounds'] ?? (quick ? 20 : 100))
/** Headroom under the client's quota for the grants a point issues itself (3 s tokens). */
const QUOTA_HEADROOM = 10_000
const liveGrantsMax = Math.min(Number(args['live-grants-max'] ?? (quick ? 10_000 : 100_000)), QUOTA_CAP - QUOTA_HEADROOM)
const only = args.only ? new Set(args.only.split(',')) : undefined
for (const [name, value] of [['--duration', duration], ['--verifier-rounds', verifierRounds], ['--live-grants-max', liveGrantsMax]]) {
  if (!Number.isFinite(value) || value < 1) throw new Error(`${name} must be a positive number`)
}
let redisUrl = args['redis-url']

/** Tokens per second at one point: a broker started for it, warmed up, then measured. */
async function issuancePoint({ rulesAhead = 0, grants = [grant()] }) {
  const broker = await startBenchBroker({ redisUrl, name: 'curves', rulesAhead, config: BROKER_CONFIG })
  try {
    const request = issuanceRequest(broker.base, { secret: broker.secret, grants })
    return await httpRate(request, { duration, warmup, what: JSON.stringify({ rulesAhead, grants: grants.length }) })
  } finally {
    broker.child.kill('SIGTERM')
    await deletePrefix(redisUrl, broker.prefix)
  }
}

/** Decisions per second in process, for a policy of `rules` rules with the matching one last. */
async function decisionPoint(rules) {
  const { loadPolicy } = await import(join(root, 'dist/policy/load-policy.js'))
  const { decide } = await import(join(root, 'dist/policy/decide.js'))
  const hash = '$argon2id$v=19$m=19456,t=2,p=1$Oxayyd5izrNNJCb6Y3Rq3w$yJQfl+cUlpYTRSfXZbXBsSD0YRcnsFOrKaUYQvZyI7w'
  const ids = Array.from({ length: rules - 1 }, (_, i) => `other-${i}`)
  const text = `version: 1
clients: [ { id: c, auth: client_secret, secret_hash: "${hash}", rules: [${[...ids, 'docs-read'].join(', ')}] } ]
rules:
${ids.map((id, i) => `  - { id: ${id}, match: { type: repo, actions: [read], locations: ["https://git.example.com/team-${i}/*"], identifier: "docs/**" }, max_ttl: 15m, approval: none }\n`).join('')}  - { id: docs-read, match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }, max_ttl: 15m, approval: none }
`
  const policy = loadPolicy(text)
  const manifest = { task: { id: 'T' }, grants: [grant()] }
  const limits = { maxTtlSeconds: 3600, defaultTtlSeconds: 900 }
  decide(policy, 'c', manifest, limits)
  const end = performance.now() + Math.min(duration, 2) * 1000
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 200; i++) decide(policy, 'c', manifest, limits)
    n += 200
  }
  return n / Math.min(duration, 2)
}

/**
 * Grants recorded per second by the embedded store for a client that already holds `held` live
 * grants (its quota and id checks must not walk them), in process.
 */
async function memoryStorePoint(held) {
  const { createMemoryStore } = await import(join(root, 'dist/open-store.js'))
  const store = createMemoryStore({ clock: Date.now })
  const now = Math.floor(Date.now() / 1000)
  let n = 0
  const grant = () => ({
    id: `g${n++}`,
    clientId: 'busy',
    task: { id: 'T' },
    manifestSha256: '00'.repeat(32),
    authorizationDetails: [{ type: 'repo', actions: ['read'] }],
    ruleIds: ['r'],
    issuedAt: now,
    expiresAt: now + 3600,
  })
  for (let i = 0; i < held; i++) await store.grants.createGrant(grant())
  const seconds = Math.min(duration, 2)
  const end = performance.now() + seconds * 1000
  let created = 0
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) await store.grants.createGrant(grant(), { maxLiveGrants: 10_000_000 })
    created += 100
  }
  await store.close()
  return created / seconds
}

/** Each curve: what its panel and table row say, how to read it, and how to measure it. */
function curveSpecs() {
  const ruleCounts = [10, 100, 1000, 10_000]
  const liveCounts = [...new Set([10, 1000, 100_000, liveGrantsMax].filter((n) => n <= liveGrantsMax))]
  const within = { maxCost: 1.2 }
  return [
    {
      id: 'rules',
      name: 'issuance vs rules the client may use (HTTP, tokens/s)',
      title: 'Issuance vs rules (HTTP)',
      subtitle: 'cost per token; matching rule last',
      x: 'rules',
      kind: 'rate',
      goal: within,
      // The bench policy has two rules of its own (docs-read, which matches, then mcp-tools).
      measure: async () => rateRows(await twoPasses(ruleCounts, (n) => issuancePoint({ rulesAhead: n - 2 }))),
    },
    {
      id: 'decision',
      name: 'policy decision vs rules (in process, decisions/s)',
      title: 'Policy decision vs rules (in process)',
      subtitle: 'cost per decision; matching rule last',
      x: 'rules',
      kind: 'rate',
      goal: within,
      measure: async () => rateRows(await twoPasses(ruleCounts, decisionPoint)),
    },
    {
      id: 'memory-store',
      name: 'embedded store: grants recorded vs live grants the client holds (in process, grants/s)',
      title: 'Embedded store: recording vs live grants',
      subtitle: 'cost per grant recorded, in process',
      x: 'live grants of the client',
      kind: 'rate',
      goal: within,
      measure: async () => rateRows(await twoPasses([10, 1000, 100_000], memoryStorePoint)),
    },
    {
      id: 'live-grants',
      name: 'issuance vs live grants the client holds, Redis store (HTTP, tokens/s)',
      title: 'Issuance vs live grants (Redis, HTTP)',
      subtitle: 'cost per token; grants filled through the store',
      x: 'live grants of the client',
      kind: 'rate',
      goal: within,
      measure: async () => {
        const { rows, ...more } = await liveGrantsCurve({ redisUrl, points: liveCounts, duration, warmup })
        return { rows, more }
      },
    },
    {
      id: 'grants',
      name: 'issuance vs grants per manifest (HTTP, tokens/s)',
      title: 'Issuance vs grants per manifest (HTTP)',
      subtitle: 'cost per token; the work grows with the grants',
      x: 'grants in the manifest',
      kind: 'rate',
      goal: { note: 'expected: linear in the grants' },
      measure: async () => {
        const rows = rateRows(
          await twoPasses([1, 10, 50], (n) => issuancePoint({ grants: Array.from({ length: n }, (_, i) => grant(`docs/part-${i}/**`)) })),
        )
        const first = rows[0]
        const last = rows[rows.length - 1]
        // The cost one more grant adds, as a fraction of a one-grant token.
        const perGrant = +((last.cost - first.cost) / (last.point - first.point)).toFixed(3)
        return { rows, more: { costPerAddedGrant: perGrant }, note: `+${perGrant}× a 1-grant token per added grant` }
      },
    },
    {
      id: 'clients',
      name: 'issuance spread over the clients in the policy, warm secret cache (HTTP, tokens/s)',
      title: 'Issuance vs clients (HTTP)',
      subtitle: 'cost per token; load over every client, warm',
      x: 'clients in the policy',
      kind: 'rate',
      goal: within,
      measure: async () => rateRows(await clientsCurve({ redisUrl, points: quick ? [1, 100, 10_000] : [1, 10, 100, 1000, 10_000], duration, warmup })),
    },
    {
      id: 'verifiers',
      name: 'revocation reaching every subscribed verifier (liveness `redis`, one process), from sending `POST /oauth/revoke`',
      title: 'Revocation vs subscribed verifiers',
      subtitle: 'time until all dropped the grant (one process)',
      x: 'verifiers subscribed',
      kind: 'latency',
      goal: within,
      measure: async () => verifiersCurve({ redisUrl, points: [1, 10, 100], rounds: Math.ceil(verifierRounds / 2) }),
    },
  ]
}

async function main() {
  let privateRedis
  if (!redisUrl) {
    privateRedis = await startRedisServer()
    redisUrl = privateRedis.url
  }
  const curves = []
  let redisMemory
  try {
    for (const { measure, id, ...spec } of curveSpecs()) {
      if (only && !only.has(id)) continue
      console.log(`measuring: ${spec.name}`)
      const measured = await measure()
      const { rows, more = {}, note } = Array.isArray(measured) ? { rows: measured } : measured
      if (more.redisMemory) redisMemory = more.redisMemory
      const { redisMemory: _memory, ...rest } = more
      curves.push({ id, ...spec, ...(note ? { goal: { ...spec.goal, note } } : {}), rows, ...rest })
    }
  } finally {
    if (privateRedis) privateRedis.child.kill('SIGKILL')
  }

  console.log(`\nwrit scaling curves — ${cpus().length} cores, node ${process.version}, ${duration}s per point, ${CONNECTIONS} connections\n`)
  for (const c of curves) {
    console.log(c.name)
    for (const r of c.rows) {
      const value = c.kind === 'rate' ? `${String(r.perSecond).padStart(8)}/s` : `p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`
      console.log(`  ${String(r.point).padStart(7)} ${c.x}: ${value}  = cost ${r.cost} x the first point`)
    }
  }
  if (redisMemory) console.log(`Redis memory per live grant: ${redisMemory.bytesPerGrant} bytes (over ${redisMemory.grants} grants)`)
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    durationSeconds: duration,
    warmupRequests: warmup,
    connections: CONNECTIONS,
    quick,
    redis: privateRedis ? 'a private redis-server started for the run' : redisUrl,
    curves,
    ...(redisMemory ? { redisMemory } : {}),
  }
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/curves.json'), JSON.stringify(report, null, 2) + '\n')
  writeFileSync(join(root, 'bench/results/curves.svg'), drawCurves(report))
  console.log('\nwrote bench/results/curves.json and bench/results/curves.svg')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
