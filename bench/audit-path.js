#!/usr/bin/env node
// The audit path measured apart from HTTP: what the hash-chained audit log adds, in CPU time per
// grant, to the grant store's create script, in the broker process and in Redis.
//
// One process (this one, built modules from dist/) drives two grant stores, each on its own private
// redis-server, through the broker's own `recordGrant`: one with auditing off, the other with
// auditing on (the `grant.issued` event encoded, taken in by the create script with `XADD`, hashed
// and chained in batches; every run ends with the log flushed, so its chaining is counted). Runs
// alternate off/on, on/off; the cost per grant is the median over runs. Without HTTP, JSON Web
// Token signing and policy in the way, the audit path's own cost stands out of the noise that
// `bench/audit.js` (the same comparison over HTTP, as a share of a token's whole cost) has to
// average away; use this one to see what a change to the audit path buys.
//
//   node bench/audit-path.js                    # 20,000 grants per run, 6 runs per mode
//   node bench/audit-path.js --grants 50000 --runs 10
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { cpuSeconds, pinToCpu, root, schedstat, startRedisServer } from './lib.js'

const { values: args } = parseArgs({
  options: {
    grants: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '16' },
  },
})
const grantsPerRun = Number(args.grants)
const runs = Number(args.runs)
const concurrency = Number(args.concurrency)

if (!existsSync(join(root, 'dist/audit/redis-audit-log.js'))) {
  console.error('dist/ is missing: run `npm run build` first')
  process.exit(1)
}
const { createRedisStore } = await import('../dist/open-store.js')
const { createRedisAuditLog } = await import('../dist/audit/redis-audit-log.js')
const { createAuditor } = await import('../dist/audit/create-auditor.js')
const { recordGrant } = await import('../dist/grants/record-grant.js')
const { silentLogger } = await import('../dist/logger.js')
const { canonicalize } = await import('../dist/manifest/canonicalize.js')
const { createKeyManager } = await import('../dist/tokens/index.js')
const { systemClock } = await import('../dist/clock.js')

if (!schedstat) {
  console.error('this benchmark reads CPU time from /proc (Linux)')
  process.exit(1)
}

const details = [
  { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
]
const detailsJson = canonicalize(details)
const createOptions = { maxLiveGrants: 1_000_000 }

/** A grant like the ones `bench/audit.js` issues. */
function benchGrant() {
  const now = Math.floor(Date.now() / 1000)
  return {
    id: randomUUID(),
    clientId: 'bench-agent',
    task: { id: 'BENCH-1' },
    manifestSha256: 'ab'.repeat(32),
    authorizationDetails: details,
    ruleIds: ['docs-read'],
    issuedAt: now,
    expiresAt: now + 900,
  }
}

/** `n` grants, `concurrency` at a time; with the log, until every one is chained. */
async function drive(setup, n) {
  let started = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started++ < n) await recordGrant(setup, benchGrant(), detailsJson, createOptions)
    }),
  )
  await setup.log?.flush()
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const setups = {}
let pinned = cpus().length >= 2
try {
  const keys = createKeyManager({ alg: 'ES256', source: 'generate', rotationSeconds: 7 * 24 * 3600, maxTokenTtlSeconds: 3600, clock: systemClock })
  await keys.init()
  // As in bench/audit.js: this process (the broker's part) on CPU 0, the redis-servers on CPU 1.
  pinned &&= pinToCpu(process.pid, 0)
  for (const mode of ['off', 'on']) {
    const redis = await startRedisServer()
    pinned &&= pinToCpu(redis.child.pid, 1)
    const store = createRedisStore({ url: redis.url, clock: systemClock, keyPrefix: 'bench-audit-path:' })
    await store.backend.firstConnection()
    const log =
      mode === 'on'
        ? createRedisAuditLog({ redis: store.backend.redis, keyPrefix: store.backend.keys.prefix, clock: systemClock, issuer: 'https://writ.bench', signer: keys })
        : undefined
    // The broker's own write of a grant and its event (issue-grant calls the same function).
    const audit = createAuditor({ log, logger: silentLogger, clock: systemClock })
    setups[mode] = { redis, store: store.grants, opened: store, log, audit, runs: [] }
  }
  // Warm up both: JIT, Redis scripts.
  for (const mode of ['off', 'on']) await drive(setups[mode], 5000)
  for (let run = 0; run < runs; run++) {
    for (const mode of run % 2 ? ['on', 'off'] : ['off', 'on']) {
      const setup = setups[mode]
      const before = [cpuSeconds(process.pid), cpuSeconds(setup.redis.child.pid)]
      await drive(setup, grantsPerRun)
      const after = [cpuSeconds(process.pid), cpuSeconds(setup.redis.child.pid)]
      setup.runs.push({ brokerMicros: ((after[0] - before[0]) * 1e6) / grantsPerRun, redisMicros: ((after[1] - before[1]) * 1e6) / grantsPerRun })
    }
  }
} finally {
  for (const { opened, audit, redis } of Object.values(setups)) {
    await audit.close().catch(() => undefined)
    await opened.close().catch(() => undefined)
    redis.child.kill('SIGKILL')
  }
}

const summary = Object.fromEntries(
  Object.entries(setups).map(([mode, { runs: r }]) => [
    mode,
    {
      brokerMicrosPerGrant: +median(r.map((x) => x.brokerMicros)).toFixed(1),
      redisMicrosPerGrant: +median(r.map((x) => x.redisMicros)).toFixed(1),
      runs: r.map((x) => ({ brokerMicros: +x.brokerMicros.toFixed(1), redisMicros: +x.redisMicros.toFixed(1) })),
    },
  ]),
)
const added = {
  brokerMicrosPerGrant: +(summary.on.brokerMicrosPerGrant - summary.off.brokerMicrosPerGrant).toFixed(1),
  redisMicrosPerGrant: +(summary.on.redisMicrosPerGrant - summary.off.redisMicrosPerGrant).toFixed(1),
}

console.log(`\nwrit audit path benchmark — ${cpus().length} cores (${cpus()[0]?.model ?? 'cpu'}), node ${process.version}, ${runs} run(s) of ${grantsPerRun} grants per mode, ${concurrency} at a time\n`)
console.log('mode   broker µs/grant   redis µs/grant   (median of runs)')
for (const mode of ['off', 'on']) {
  console.log(`${mode.padEnd(4)}${String(summary[mode].brokerMicrosPerGrant).padStart(18)}${String(summary[mode].redisMicrosPerGrant).padStart(17)}`)
}
console.log(`\nthe audit path adds ${added.brokerMicrosPerGrant} µs (broker) + ${added.redisMicrosPerGrant} µs (Redis) of CPU per grant`)
console.log(pinned ? 'pinned: this process on CPU 0, the redis-servers on CPU 1' : 'not pinned (needs 2 CPUs and taskset)')
mkdirSync(join(root, 'bench/results'), { recursive: true })
writeFileSync(
  join(root, 'bench/results/audit-path.json'),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
      grantsPerRun,
      runs,
      concurrency,
      pinned,
      method: 'grant store create script with and without the audit intake and chainer, in one process, each on its own redis-server; CPU time per grant (process and redis-server), median over alternating runs',
      ...summary,
      added,
    },
    null,
    2,
  ) + '\n',
)
console.log('wrote bench/results/audit-path.json')
process.exit(0)
