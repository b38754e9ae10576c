#!/usr/bin/env node
// Bulk revocation benchmark: revoke 100,000 live grants of one client on a private redis-server and
// show that Redis is never blocked for long while it happens.
//
// Measured in one run, on one private server (nothing else in its SLOWLOG):
//   - writ's revokeByClient: wall time, the longest single command Redis ran (SLOWLOG, threshold 0),
//     and the worst PING round trip a second client saw meanwhile;
//   - baseline, same data on another client: one Lua script that revokes everything in one call,
//     the unbatched design whose stall we avoid. Its longest command is the stall.
//
//   npm run bench                         # 100,000 grants
//   node bench/revocation.js --grants 20000
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import Redis from 'ioredis'
import { createRedisStore } from '../dist/open-store.js'
import { startRedisServer } from './lib.js'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: { grants: { type: 'string', default: '100000' } },
})
const count = Number(args.grants)


function grantFor(clientId, i, now) {
  const issuedAt = Math.floor(now / 1000)
  return {
    id: `g${i.toString(36).padStart(6, '0')}-${clientId}`,
    clientId,
    task: { id: `TASK-${i % 100}`, purpose: 'bulk revocation benchmark' },
    manifestSha256: 'ab'.repeat(32),
    authorizationDetails: [
      { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
    ],
    ruleIds: ['docs-read'],
    issuedAt,
    // Spread over 10 minutes, as a steady issuance rate would.
    expiresAt: issuedAt + 900 + (i % 600),
  }
}

async function fill(store, clientId) {
  const now = Date.now()
  const started = performance.now()
  for (let i = 0; i < count; i += 1000) {
    const batch = []
    for (let j = i; j < Math.min(i + 1000, count); j++) batch.push(store.grants.createGrant(grantFor(clientId, j, now)))
    await Promise.all(batch)
  }
  return performance.now() - started
}

// Another client of the same Redis, in its own process (so this process's own work does not
// count): PINGs in a loop, and on stdin's end prints its round-trip times.
const PROBE = `
import Redis from 'ioredis'
const redis = new Redis(process.argv[1])
const samples = []
let running = true
process.stdin.on('end', () => (running = false)).resume()
await redis.ping()
process.stdout.write('ready\\n')
while (running) {
  const t = performance.now()
  await redis.ping()
  samples.push(performance.now() - t)
}
await redis.quit()
samples.sort((a, b) => a - b)
const at = (q) => +(samples[Math.min(samples.length - 1, Math.floor(samples.length * q))] ?? 0).toFixed(2)
process.stdout.write(JSON.stringify({ pings: samples.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) }) + '\\n')
`

/** Starts the PING probe; resolves once it is pinging, with a function that stops it. */
async function pingProbe(url) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE, url], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 5))
  return async () => {
    child.stdin.end()
    await once(child, 'exit')
    return JSON.parse(out.split('\n')[1])
  }
}

/** SLOWLOG threshold: commands that ran at least this long are logged (µs). */
const SLOW_MICROS = 1000

/** The longest command Redis ran since the last reset, if any ran 1 ms or more. */
async function longestCommand(admin) {
  const entries = await admin.slowlog('GET', -1)
  let longest = { ms: 0, command: `none of ${SLOW_MICROS / 1000} ms or more` }
  for (const [, , micros, argv] of entries) {
    if (micros / 1000 > longest.ms) longest = { ms: +(micros / 1000).toFixed(2), command: String(argv[0]).toUpperCase() }
  }
  return longest
}

/** How often each top-level command the revocation uses was called since the last reset. */
async function calls(admin, names) {
  const info = await admin.info('commandstats')
  const out = {}
  for (const name of names) out[name] = Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
  return out
}

// The unbatched design: every live grant of a client revoked by one script, in one call.
const NAIVE_REVOKE_ALL_LUA = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  local g = KEYS[2] .. id
  if redis.call('GET', g) then
    redis.call('DEL', g)
    redis.call('SET', KEYS[3] .. id, ARGV[1], 'PX', 900000)
  end
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], '{"v":1,"all":true}')
return #ids
`

async function main() {
  const { url, child } = await startRedisServer()
  const admin = new Redis(url)
  const store = createRedisStore({ url, clock: Date.now, commandTimeoutMs: 5000 })
  const report = { date: new Date().toISOString(), machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version }, grants: count }
  try {
    process.stdout.write(`creating ${count} live grants for each of two clients...\n`)
    const fillMs = await fill(store, 'bench-agent')
    await fill(store, 'baseline-agent')
    report.createGrantsPerSecond = Math.round(count / (fillMs / 1000))

    let heard = 0
    let lastMessageAt = 0
    let messagesCount = 0
    const unsubscribe = await store.revocations.subscribeRevocations((m) => {
      messagesCount++
      if ('grants' in m) heard += m.grants.length
      lastMessageAt = performance.now()
    })

    // writ: batched revocation.
    await admin.config('SET', 'slowlog-max-len', '100000')
    await admin.config('SET', 'slowlog-log-slower-than', String(SLOW_MICROS))
    let stopProbe = await pingProbe(url)
    await admin.slowlog('RESET')
    await admin.config('RESETSTAT')
    const started = performance.now()
    const revoked = await store.grants.revokeByClient('bench-agent', { by: 'admin', reason: 'bench', at: Math.floor(Date.now() / 1000) })
    const revokeMs = performance.now() - started
    const writProbe = await stopProbe()
    const deadline = Date.now() + 30_000
    while (heard < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    const longest = await longestCommand(admin)
    const roundTrips = await calls(admin, ['zrange', 'mget', 'eval', 'evalsha'])
    if (revoked !== count || heard !== count) throw new Error(`revoked ${revoked}, messages listed ${heard}, expected ${count}`)
    report.writ = {
      revokeMs: Math.round(revokeMs),
      grantsPerSecond: Math.round(count / (revokeMs / 1000)),
      lastMessageAfterMs: Math.round(lastMessageAt - started),
      messages: messagesCount,
      roundTrips,
      longestCommandMs: longest.ms,
      longestCommand: longest.command,
      pingWhileRevoking: writProbe,
    }
    await unsubscribe()

    // Baseline: one script for everything.
    const keys = store.backend.keys
    stopProbe = await pingProbe(url)
    await admin.slowlog('RESET')
    const naiveStarted = performance.now()
    const naiveRevoked = await admin.eval(
      NAIVE_REVOKE_ALL_LUA,
      3,
      keys.live('baseline-agent'),
      keys.grant('baseline-agent', ''),
      keys.tombstone('baseline-agent', ''),
      JSON.stringify({ by: 'admin', reason: 'bench' }),
      keys.revocationChannel(),
    )
    const naiveMs = performance.now() - naiveStarted
    const naiveProbe = await stopProbe()
    report.baselineSingleScript = {
      revoked: naiveRevoked,
      revokeMs: Math.round(naiveMs),
      longestCommandMs: (await longestCommand(admin)).ms,
      pingWhileRevoking: naiveProbe,
    }
    report.longestCommandVsBaseline = +(report.writ.longestCommandMs / report.baselineSingleScript.longestCommandMs).toFixed(4)
  } finally {
    await store.close()
    await admin.quit()
    child.kill('SIGKILL')
    await once(child, 'exit')
  }

  const w = report.writ
  const b = report.baselineSingleScript
  console.log(`\nwrit bulk revocation benchmark — ${report.machine.cores} cores (${report.machine.cpu}), node ${process.version}, private redis-server\n`)
  const trips = Object.entries(w.roundTrips).map(([k, v]) => `${v} ${k.toUpperCase()}`).join(', ')
  console.log(`revokeByClient, ${count} live grants: ${w.revokeMs} ms (${w.grantsPerSecond} grants/s), ${trips}, ${w.messages} messages (last one after ${w.lastMessageAfterMs} ms)`)
  console.log(`  longest single command: ${w.longestCommandMs} ms (${w.longestCommand}); PING meanwhile p50 ${w.pingWhileRevoking.p50Ms} ms, p99 ${w.pingWhileRevoking.p99Ms} ms, max ${w.pingWhileRevoking.maxMs} ms`)
  console.log(`baseline, one Lua script for all ${count}: ${b.revokeMs} ms, Redis blocked ${b.longestCommandMs} ms; PING meanwhile max ${b.pingWhileRevoking.maxMs} ms`)
  console.log(`longest command as a ratio of the single-script baseline: ${report.longestCommandVsBaseline} (goal: no command over 50 ms)`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/revocation.json'), JSON.stringify(report, null, 2) + '\n')
  console.log('\nwrote bench/results/revocation.json')
  if (w.longestCommandMs > 50) {
    console.error('a single command ran over 50 ms')
    process.exitCode = 1
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
