#!/usr/bin/env node
// Audit overhead benchmark: what the hash-chained audit log adds to token issuance.
//
// Two brokers (built, `node dist/main.js`) run side by side on one private redis-server: one with
// the audit log on (the default: every token's `grant.issued` event is durable in the Redis stream
// before the token leaves), one with `audit.enabled: false`. autocannon drives POST /oauth/token on
// each in turn, in the order off, on, on, off (repeated `--rounds` times) at every connection
// level, so drift on the shared machine hits both alike. Reported: issuance per second with and without the audit path, and the
// overhead (1 - on/off). Goal: at most 10%.
//
//   npm run bench                                   # 4 s per run, 2 rounds
//   node bench/audit.js --duration 10 --rounds 3 --connections 1,16,64
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import Redis from 'ioredis'
import { root, startBenchBroker, startRedisServer } from './lib.js'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    connections: { type: 'string', default: '1,16,64' },
    rounds: { type: 'string', default: '2' },
  },
})
const duration = Number(args.duration)
const connectionLevels = args.connections.split(',').map(Number)
const rounds = Number(args.rounds)
const GOAL = 0.1

/** Clock ticks per second of /proc/<pid>/stat times (Linux); null where there is no /proc. */
const ticks = existsSync('/proc/self/stat') ? Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100 : null

/** CPU seconds (user + system) a process has used so far, or null without /proc. */
function cpuSeconds(pid) {
  if (!ticks) return null
  // Fields after the command name (which may contain spaces): utime and stime are 14th and 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / ticks
}


/** A broker on `redisUrl` with the audit log on or off (everything else as the other bench brokers). */
function startBroker(redisUrl, audit) {
  return startBenchBroker({
    redisUrl,
    name: `bench-audit-${audit ? 'on' : 'off'}`,
    config: { audit: { enabled: audit } },
    env: { WRIT_LOG_LEVEL: 'error' },
  })
}

function cannon(opts) {
  return new Promise((res, rej) => {
    autocannon({ duration, ...opts }, (err, result) => (err ? rej(err) : res(result)))
  })
}

async function main() {
  const redis = await startRedisServer()
  const brokers = {}
  const runs = []
  let streamLength = 0
  try {
    brokers.off = await startBroker(redis.url, false)
    brokers.on = await startBroker(redis.url, true)
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      task_id: 'BENCH-1',
      authorization_details: JSON.stringify([
        { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
      ]),
    }).toString()
    const issuance = ({ base, secret }) => ({
      url: `${base}/oauth/token`,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`bench-agent:${secret}`).toString('base64')}`,
      },
      body,
    })
    // Warm up both: JIT, the secret cache, Redis scripts.
    for (const mode of ['off', 'on']) await cannon({ ...issuance(brokers[mode]), duration: 2, connections: 16 })
    for (const connections of connectionLevels) {
      const order = Array.from({ length: rounds }, () => ['off', 'on', 'on', 'off']).flat()
      for (const mode of order) {
        const pids = [brokers[mode].child.pid, redis.child.pid]
        const before = pids.map(cpuSeconds)
        const r = await cannon({ ...issuance(brokers[mode]), connections })
        const after = pids.map(cpuSeconds)
        // CPU per token, broker and Redis together: what issuing costs, whatever else runs here.
        const cpu = before.includes(null) ? null : after.reduce((sum, t, i) => sum + t - before[i], 0)
        runs.push({
          mode,
          connections,
          requestsPerSecond: Math.round(r.requests.average),
          cpuMicrosPerToken: cpu === null || r.requests.total === 0 ? null : Math.round((cpu * 1e6) / r.requests.total),
          redisCpuMicrosPerToken:
            cpu === null || r.requests.total === 0 ? null : Math.round(((after[1] - before[1]) * 1e6) / r.requests.total),
          latencyMs: { p50: r.latency.p50, p99: r.latency.p99 },
          errors: r.errors + r.timeouts + r.non2xx,
        })
      }
    }
    const probe = new Redis(redis.url)
    streamLength = await probe.xlen(`${brokers.on.prefix}{audit}:log`)
    await probe.quit()
  } finally {
    for (const b of Object.values(brokers)) b.child.kill('SIGTERM')
    redis.child.kill('SIGKILL')
  }

  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
  const levels = connectionLevels.map((connections) => {
    const of = (mode) => runs.filter((r) => r.connections === connections && r.mode === mode)
    const off = mean(of('off').map((r) => r.requestsPerSecond))
    const on = mean(of('on').map((r) => r.requestsPerSecond))
    const cpuOff = ticks ? mean(of('off').map((r) => r.cpuMicrosPerToken)) : null
    const cpuOn = ticks ? mean(of('on').map((r) => r.cpuMicrosPerToken)) : null
    return {
      connections,
      auditOffPerSecond: Math.round(off),
      auditOnPerSecond: Math.round(on),
      throughputOverhead: +(1 - on / off).toFixed(3),
      cpuMicrosPerToken: ticks ? { off: Math.round(cpuOff), on: Math.round(cpuOn) } : null,
      overhead: ticks ? +(cpuOn / cpuOff - 1).toFixed(3) : +(1 - on / off).toFixed(3),
      p99Ms: { off: Math.max(...of('off').map((r) => r.latencyMs.p99)), on: Math.max(...of('on').map((r) => r.latencyMs.p99)) },
    }
  })

  console.log(`\nwrit audit overhead benchmark — ${cpus().length} cores (${cpus()[0]?.model ?? 'cpu'}), node ${process.version}, ${duration}s per run, ${rounds} round(s) of off/on/on/off\n`)
  const pct = (x) => `${(x * 100).toFixed(1)}%`
  console.log('conns   tok/s off    tok/s on   throughput   CPU µs/token off/on   cost overhead   p99 ms off/on')
  for (const l of levels) {
    console.log(
      `${String(l.connections).padStart(5)}${String(l.auditOffPerSecond).padStart(12)}${String(l.auditOnPerSecond).padStart(12)}${pct(-l.throughputOverhead).padStart(13)}${(l.cpuMicrosPerToken ? `${l.cpuMicrosPerToken.off}/${l.cpuMicrosPerToken.on}` : '-').padStart(22)}${pct(l.overhead).padStart(16)}${`${l.p99Ms.off}/${l.p99Ms.on}`.padStart(16)}`,
    )
  }
  console.log('\ncost = CPU time of the broker and redis-server per token (where /proc exists; else the throughput drop)')
  console.log(`\naudit events written by the audit-on broker: ${streamLength} (one grant.issued per token, plus checkpoints)`)
  console.log(`goal: cost overhead <= ${GOAL * 100}% at every level`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(
    join(root, 'bench/results/audit.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
        durationSeconds: duration,
        runs,
        levels,
        auditEvents: streamLength,
        goal: { maxOverhead: GOAL },
      },
      null,
      2,
    ) + '\n',
  )
  console.log('wrote bench/results/audit.json')
  if (runs.some((r) => r.errors > 0)) {
    console.error('errors during the benchmark')
    process.exitCode = 1
  }
  if (levels.some((l) => l.overhead > GOAL)) {
    console.error(`the audit path cost more than ${GOAL * 100}% somewhere`)
    process.exitCode = 1
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
