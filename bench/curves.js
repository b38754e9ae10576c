#!/usr/bin/env node
// Scaling curves: how issuance cost moves as the work around it grows. Each curve is reported as
// ratios to its own smallest point measured in the same run (the machine is shared and absolute
// numbers drift), and drawn in bench/results/curves.svg.
//
//   - rules: issuance over HTTP with 10, 100, 1,000 and 10,000 rules the client may use, the
//     matching one last (goal: within 1.2x of the 10-rule point at 10,000), and the same for the
//     policy decision alone, in process;
//   - live grants per client on the embedded store: grants recorded per second while the client
//     holds 10, 1,000 and 100,000 live grants (goal: within 1.2x);
//   - grants per manifest: issuance of a manifest of 1, 10 and 50 grants (the work grows with the
//     grants: expected linear with a small constant).
//
// Points are measured in two rounds, the second in reverse order, and averaged, so a slow minute
// of the shared machine does not land on one end of a curve.
//
//   node bench/curves.js [--duration 4]
import { writeFileSync, mkdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { deletePrefix, root, startBenchBroker } from './lib.js'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const duration = Number(args.duration)
const redisUrl = args['redis-url']
const CONNECTIONS = 16

const cannon = (opts) =>
  new Promise((res, rej) => autocannon({ duration, connections: CONNECTIONS, ...opts }, (err, r) => (err ? rej(err) : res(r))))

const grant = (identifier = 'docs/**') => ({
  type: 'repo',
  actions: ['read'],
  locations: ['https://git.example.com/acme/app'],
  identifier,
})

function issuanceRequest(base, secret, grants) {
  return {
    url: `${base}/oauth/token`,
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`bench-agent:${secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      task_id: 'BENCH-CURVES',
      authorization_details: JSON.stringify(grants),
    }).toString(),
  }
}

/** Tokens per second at one point: a broker started for it, warmed up, then measured. */
async function issuancePoint({ rulesAhead = 0, grants = [grant()] }) {
  const broker = await startBenchBroker({ redisUrl, name: 'curves', rulesAhead })
  try {
    const request = issuanceRequest(broker.base, broker.secret, grants)
    await cannon({ ...request, duration: 2 })
    const r = await cannon(request)
    if (r.errors + r.timeouts + r.non2xx > 0) throw new Error(`errors at ${JSON.stringify({ rulesAhead, grants: grants.length })}`)
    return r.requests.average
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

/** Measures every point twice (forward, then backward) and returns the means, in point order. */
async function curve(points, measure) {
  const sums = points.map(() => 0)
  for (const order of [points.keys(), [...points.keys()].reverse()]) {
    for (const i of order) sums[i] += await measure(points[i])
  }
  return points.map((point, i) => ({ point, perSecond: Math.round(sums[i] / 2) }))
}

const withRatios = (rows) => rows.map((r) => ({ ...r, ratio: +(r.perSecond / rows[0].perSecond).toFixed(3) }))

async function main() {
  const ruleCounts = [10, 100, 1000, 10_000]
  const grantCounts = [1, 10, 50]
  const curves = [
    {
      name: 'issuance vs rules the client may use (HTTP, tokens/s)',
      x: 'rules',
      rows: withRatios(await curve(ruleCounts, (n) => issuancePoint({ rulesAhead: n - 1 }))),
    },
    {
      name: 'policy decision vs rules (in process, decisions/s)',
      x: 'rules',
      rows: withRatios(await curve(ruleCounts, decisionPoint)),
    },
    {
      name: 'embedded store: grants recorded vs live grants the client holds (in process, grants/s)',
      x: 'live grants',
      rows: withRatios(await curve([10, 1000, 100_000], memoryStorePoint)),
    },
    {
      name: 'issuance vs grants per manifest (HTTP, tokens/s)',
      x: 'grants',
      rows: withRatios(
        await curve(grantCounts, (n) => issuancePoint({ grants: Array.from({ length: n }, (_, i) => grant(`docs/part-${i}/**`)) })),
      ),
    },
  ]

  console.log(`\nwrit scaling curves — ${cpus().length} cores, node ${process.version}, ${duration}s per point, ${CONNECTIONS} connections\n`)
  for (const c of curves) {
    console.log(c.name)
    for (const r of c.rows) console.log(`  ${String(r.point).padStart(6)} ${c.x}: ${String(r.perSecond).padStart(8)}/s  = ${r.ratio} x the first point`)
  }
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    durationSeconds: duration,
    connections: CONNECTIONS,
    curves,
  }
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/curves.json'), JSON.stringify(report, null, 2) + '\n')
  writeFileSync(join(root, 'bench/results/curves.svg'), drawCurves(report))
  console.log('\nwrote bench/results/curves.json and bench/results/curves.svg')
}

/** One small chart per curve: cost (first point's rate / this point's rate) against a log x axis. */
function drawCurves(report) {
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const W = 420
  const H = 220
  const parts = []
  report.curves.forEach((c, k) => {
    const x0 = 20 + (k % 3) * (W + 20) + 50
    const y0 = 40
    const w = W - 80
    const h = H - 90
    const costs = c.rows.map((r) => 1 / r.ratio)
    const yMax = Math.max(2, ...costs) * 1.1
    const xs = c.rows.map((r) => Math.log10(r.point))
    const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)]
    const px = (v) => x0 + ((v - xMin) / (xMax - xMin || 1)) * w
    const py = (v) => y0 + h - (v / yMax) * h
    parts.push(`<text x="${x0 - 40}" y="24" class="h">${esc(c.name)}</text>`)
    parts.push(`<line x1="${x0}" y1="${y0 + h}" x2="${x0 + w}" y2="${y0 + h}" class="a"/><line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y0 + h}" class="a"/>`)
    parts.push(`<line x1="${x0}" y1="${py(1.2)}" x2="${x0 + w}" y2="${py(1.2)}" class="g"/><text x="${x0 + w}" y="${py(1.2) - 3}" class="v" text-anchor="end">1.2x</text>`)
    parts.push(`<text x="${x0 - 6}" y="${py(1) + 4}" class="v" text-anchor="end">1x</text>`)
    parts.push(`<polyline points="${c.rows.map((r, i) => `${px(xs[i]).toFixed(1)},${py(costs[i]).toFixed(1)}`).join(' ')}" class="p"/>`)
    c.rows.forEach((r, i) => {
      parts.push(`<circle cx="${px(xs[i]).toFixed(1)}" cy="${py(costs[i]).toFixed(1)}" r="3" class="d"/>`)
      parts.push(`<text x="${px(xs[i]).toFixed(1)}" y="${y0 + h + 14}" class="v" text-anchor="middle">${r.point}</text>`)
      parts.push(`<text x="${px(xs[i]).toFixed(1)}" y="${(py(costs[i]) - 7).toFixed(1)}" class="v" text-anchor="middle">${costs[i].toFixed(2)}x</text>`)
    })
    parts.push(`<text x="${x0 + w / 2}" y="${y0 + h + 30}" class="l" text-anchor="middle">${esc(c.x)} (log scale); cost per token relative to ${c.rows[0].point}</text>`)
  })
  const width = 20 + report.curves.length * (W + 20)
  parts.push(`<text x="20" y="${H + 10}" class="v">${esc(`${report.date} · ${report.machine.cores} cores, ${report.machine.cpu}, node ${report.machine.node}`)}</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 20}" viewBox="0 0 ${width} ${H + 20}" font-family="sans-serif">
<style>.h{font-size:13px;font-weight:bold}.l{font-size:11px}.v{font-size:10px;fill:#444}.a{stroke:#888}.g{stroke:#c33;stroke-dasharray:4 3}.p{fill:none;stroke:#2f6db5;stroke-width:2}.d{fill:#2f6db5}</style>
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
