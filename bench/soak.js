#!/usr/bin/env node
// Soak: the broker (built, `node dist/main.js`) on Redis under a steady mixed load for a long
// time, to show it stays correct and its memory stays flat. Each worker loops:
//   issue a token (POST /oauth/token) -> verify it (dist/verifier, Redis liveness)
//   -> every other token: revoke it (POST /oauth/revoke) and wait until the verifier refuses it.
// Every wrong answer is an error (a refused issuance, a token that does not verify, a revocation
// the verifier never sees). Memory is sampled every few seconds: the broker's RSS (from /proc),
// this process's heap (the verifier) and Redis's used_memory; growth is reported as the
// difference between the first and the last fifth of the run (after warm-up) and as a slope.
//
//   npm run bench -- --soak 10m               # through bench/report.js
//   node bench/soak.js --duration 10m --workers 8
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import Redis from 'ioredis'
import { startBenchBroker } from './lib.js'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10m' },
    workers: { type: 'string', default: '8' },
    'sample-seconds': { type: 'string', default: '5' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    out: { type: 'string', default: 'soak.json' },
  },
})

/** `90`, `90s`, `10m`, `1h` -> seconds. */
function parseDuration(text) {
  const m = /^(\d+)(s|m|h)?$/.exec(text)
  if (!m) throw new Error(`--duration: expected 90, 90s, 10m or 1h, got ${text}`)
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] ?? 's']
}

const durationSeconds = parseDuration(args.duration)
const workers = Number(args.workers)
const sampleMs = Number(args['sample-seconds']) * 1000
const AUDIENCE = 'https://git.example.com/acme/app'


/** Resident set size of a process in MB, from /proc (Linux). */
function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN)
  return +(kb / 1024).toFixed(1)
}

/**
 * What the broker's keys hold at the end, by kind: the audit trail (`{audit}`), grants and their
 * tombstones and indexes (`{c:client}`), grant id pointers (`gid`), the rest. MEMORY USAGE of up
 * to `limit` keys, scaled to the key count.
 */
async function keyBreakdown(redis, prefix, limit = 20_000) {
  const kinds = {}
  let cursor = '0'
  let seen = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      const rest = key.slice(prefix.length)
      const kind = rest.startsWith('{audit}') ? 'audit' : rest.startsWith('{c:') ? 'grants' : rest.split(':')[0]
      const entry = (kinds[kind] ??= { keys: 0, sampled: 0, bytes: 0 })
      entry.keys++
      if (seen++ < limit) {
        entry.sampled++
        entry.bytes += (await redis.memory('USAGE', key)) ?? 0
      }
    }
  } while (cursor !== '0')
  return Object.fromEntries(
    Object.entries(kinds).map(([kind, e]) => [kind, { keys: e.keys, approxMb: +((e.bytes / Math.max(1, e.sampled)) * e.keys / 1048576).toFixed(1) }]),
  )
}

/** Least-squares slope of y over x. */
function slope(xs, ys) {
  const n = xs.length
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my)
    den += (xs[i] - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

/** Growth of one series: last fifth's mean minus first fifth's mean, and the slope per hour. */
function growth(samples, field) {
  const fifth = Math.max(1, Math.floor(samples.length / 5))
  const mean = (xs) => xs.reduce((a, s) => a + s[field], 0) / xs.length
  const first = mean(samples.slice(0, fifth))
  const last = mean(samples.slice(-fifth))
  const perHour = slope(samples.map((s) => s.atSeconds / 3600), samples.map((s) => s[field]))
  // The lowest sample of a stretch is the floor garbage collection returns to: the best sign of a leak.
  const floor = (xs) => Math.min(...xs.map((s) => s[field]))
  return {
    firstMb: +first.toFixed(1),
    lastMb: +last.toFixed(1),
    growthMb: +(last - first).toFixed(1),
    slopeMbPerHour: +perHour.toFixed(1),
    firstFloorMb: floor(samples.slice(0, fifth)),
    lastFloorMb: floor(samples.slice(-fifth)),
  }
}

async function main() {
  const { createVerifier } = await import(join(root, 'dist/verifier/index.js'))
  const { base, child, secret, prefix } = await startBenchBroker({ redisUrl: args['redis-url'], name: 'soak' })
  const redis = new Redis(args['redis-url'])
  const verifier = createVerifier({
    issuer: base,
    audience: AUDIENCE,
    jwksUri: `${base}/.well-known/jwks.json`,
    liveness: { mode: 'redis', redis: args['redis-url'], keyPrefix: prefix },
  })
  const auth = `Basic ${Buffer.from(`bench-agent:${secret}`).toString('base64')}`
  const issueBody = new URLSearchParams({
    grant_type: 'client_credentials',
    task_id: 'SOAK-1',
    ttl: '1m',
    authorization_details: JSON.stringify([
      { type: 'repo', actions: ['read'], locations: [AUDIENCE], identifier: 'docs/**' },
    ]),
  }).toString()
  const counts = { issued: 0, verified: 0, revoked: 0, revocationsSeen: 0 }
  const errors = []
  const fail = (what) => {
    if (errors.length < 20) errors.push(what)
    errors.total = (errors.total ?? 0) + 1
  }
  const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }

  async function worker(stopAt) {
    let n = 0
    while (Date.now() < stopAt) {
      n++
      const res = await fetch(`${base}/oauth/token`, { method: 'POST', headers: form, body: issueBody })
      if (res.status !== 200) {
        fail(`issuance answered ${res.status}: ${(await res.text()).slice(0, 200)}`)
        continue
      }
      const { access_token: token } = await res.json()
      counts.issued++
      try {
        await verifier.verify(token)
        counts.verified++
      } catch (err) {
        fail(`a fresh token did not verify: ${err.code ?? err.message}`)
        continue
      }
      if (n % 2 === 0) continue
      const revoke = await fetch(`${base}/oauth/revoke`, { method: 'POST', headers: form, body: new URLSearchParams({ token }).toString() })
      if (revoke.status !== 200) {
        fail(`revocation answered ${revoke.status}`)
        continue
      }
      await revoke.arrayBuffer()
      counts.revoked++
      // The revocation message reaches the verifier asynchronously: wait for it (at most 2 s).
      let seen = false
      for (let i = 0; i < 400 && !seen; i++) {
        try {
          await verifier.verify(token)
          await new Promise((r) => setTimeout(r, 5))
        } catch (err) {
          seen = err.code === 'token_revoked'
          if (!seen) fail(`a revoked token failed with ${err.code ?? err.message}, not token_revoked`)
          break
        }
      }
      if (seen) counts.revocationsSeen++
      else fail('a revoked token still verified after 2 s')
    }
  }

  const samples = []
  const started = Date.now()
  const sample = async () => {
    const info = await redis.info('memory')
    samples.push({
      atSeconds: Math.round((Date.now() - started) / 1000),
      brokerRssMb: rssMb(child.pid),
      verifierHeapMb: +(process.memoryUsage().heapUsed / 1048576).toFixed(1),
      redisUsedMb: +(Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / 1048576).toFixed(1),
      issued: counts.issued,
    })
  }
  console.log(`soak: ${durationSeconds} s, ${workers} workers, sampling every ${sampleMs / 1000} s`)
  const timer = setInterval(() => {
    sample().then(
      () => {
        const s = samples.at(-1)
        console.log(`  ${String(s.atSeconds).padStart(5)} s  issued ${String(s.issued).padStart(8)}  broker RSS ${s.brokerRssMb} MB  verifier heap ${s.verifierHeapMb} MB  Redis ${s.redisUsedMb} MB  errors ${errors.total ?? 0}`)
      },
      (err) => fail(`sampling failed: ${err.message}`),
    )
  }, sampleMs)
  let redisKeys
  try {
    const stopAt = started + durationSeconds * 1000
    await Promise.all(Array.from({ length: workers }, () => worker(stopAt)))
    await sample()
    redisKeys = await keyBreakdown(redis, prefix)
  } finally {
    clearInterval(timer)
    await verifier.close()
    child.kill('SIGTERM')
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length) await redis.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    await redis.quit()
  }

  // Warm-up (JIT, caches, the first minute of 1-minute grants filling Redis) is left out.
  const warmUp = Math.min(90, durationSeconds / 4)
  const steady = samples.filter((s) => s.atSeconds >= warmUp)
  const elapsed = (Date.now() - started) / 1000
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, memoryGb: +(totalmem() / 2 ** 30).toFixed(1) },
    durationSeconds,
    workers,
    operations: counts,
    perSecond: {
      issued: Math.round(counts.issued / elapsed),
      verified: Math.round(counts.verified / elapsed),
      revoked: Math.round(counts.revoked / elapsed),
    },
    errors: errors.total ?? 0,
    firstErrors: errors,
    // The audit trail is append-only by design (trimmed by an admin), so Redis grows with it.
    redisKeysAtEnd: redisKeys,
    warmUpSeconds: warmUp,
    growth: steady.length >= 2
      ? { brokerRss: growth(steady, 'brokerRssMb'), verifierHeap: growth(steady, 'verifierHeapMb'), redisUsed: growth(steady, 'redisUsedMb') }
      : null,
    samples,
  }
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results', args.out), JSON.stringify(report, null, 2) + '\n')
  console.log(`\n${counts.issued} issued, ${counts.verified} verified, ${counts.revoked} revoked (${counts.revocationsSeen} seen by the verifier), ${report.errors} errors`)
  if (report.growth) {
    for (const [name, g] of Object.entries(report.growth)) {
      console.log(
        `  ${name.padEnd(13)} mean ${g.firstMb} -> ${g.lastMb} MB (growth ${g.growthMb} MB, slope ${g.slopeMbPerHour} MB/h), floor ${g.firstFloorMb} -> ${g.lastFloorMb} MB`,
      )
    }
  }
  if (redisKeys) {
    const kinds = Object.entries(redisKeys).map(([kind, k]) => `${kind} ${k.keys} keys ~${k.approxMb} MB`)
    console.log(`  Redis at the end: ${kinds.join(', ')}`)
  }
  console.log(`wrote bench/results/${args.out}`)
  if (report.errors > 0) {
    console.error('errors during the soak:', errors)
    process.exitCode = 1
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
