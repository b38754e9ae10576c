#!/usr/bin/env node
// Worker scaling benchmark: issuance throughput of `writ serve --workers 2` on the Redis store, as
// a ratio of `--workers 1`, measured in the same run on the same machine (absolute numbers drift
// on a shared machine; the ratio is what this reports). The runs alternate 1, 2, 1, 2, ... so a
// change in the machine's load hits both alike. autocannon runs in this process and takes CPU
// too: on a 2-core machine the broker never has both cores to itself, so the ratio is a floor.
//
//   node bench/workers.js                      # 2 rounds of 5 s per worker count, 64 connections
//   node bench/workers.js --duration 10 --rounds 3 --connections 128
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import autocannon from 'autocannon'
import Redis from 'ioredis'
import { benchConfigFile, freePort, waitUntilReady, writeBenchPolicy } from './lib.js'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const duration = Number(args.duration)
const rounds = Number(args.rounds)
const connections = Number(args.connections)


const cannon = (opts) =>
  new Promise((res, rej) => autocannon({ duration, ...opts }, (err, result) => (err ? rej(err) : res(result))))

async function startBroker({ workers, configFile, policyFile, prefix, kek }) {
  const port = await freePort()
  const child = spawn(process.execPath, ['dist/cli/index.js', 'serve', '--workers', String(workers)], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: args['redis-url'],
      WRIT_KEY_PREFIX: prefix,
      WRIT_KEK: kek,
      WRIT_CONFIG: configFile,
      WRIT_POLICY: policyFile,
      WRIT_LOG_LEVEL: 'error',
      WRIT_ADMIN_BOOTSTRAP: 'false',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const base = `http://127.0.0.1:${port}`
  await waitUntilReady(base, child, { what: `broker (--workers ${workers})`, timeoutMs: 30_000 })
  return {
    base,
    async stop() {
      if (child.exitCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    },
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'writ-bench-workers-'))
  const secret = randomBytes(24).toString('base64url')
  const policyFile = await writeBenchPolicy(dir, secret)
  const configFile = benchConfigFile(policyFile)
  // One key set for every run: the brokers share the store, as replicas would.
  const prefix = `writ-bench-workers-${randomBytes(4).toString('hex')}:`
  const kek = randomBytes(32).toString('base64')
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    task_id: 'BENCH-W',
    authorization_details: JSON.stringify([
      { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
    ]),
  }).toString()
  const headers = {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`bench-agent:${secret}`).toString('base64')}`,
  }
  const runs = []
  // Other work on the machine takes cores from the workers: the report keeps the load average.
  const loadBefore = loadavg()[0]
  try {
    for (let round = 0; round < rounds; round++) {
      for (const workers of [1, 2]) {
        const broker = await startBroker({ workers, configFile, policyFile, prefix, kek })
        try {
          const issuance = { url: `${broker.base}/oauth/token`, method: 'POST', headers, body }
          // Warm up every worker: JIT, the secret cache, Redis scripts.
          await cannon({ ...issuance, duration: 2, connections })
          const r = await cannon({ ...issuance, connections })
          runs.push({
            round,
            workers,
            tokensPerSecond: Math.round(r.requests.average),
            latencyMs: { p50: r.latency.p50, p99: r.latency.p99 },
            errors: r.errors + r.timeouts + r.non2xx,
          })
        } finally {
          await broker.stop()
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
    const redis = new Redis(args['redis-url'])
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length) await redis.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    await redis.quit()
  }

  const mean = (workers) => {
    const rates = runs.filter((r) => r.workers === workers).map((r) => r.tokensPerSecond)
    return Math.round(rates.reduce((a, b) => a + b, 0) / rates.length)
  }
  const one = mean(1)
  const two = mean(2)
  const ratio = +(two / one).toFixed(3)
  console.log(`\nwrit worker scaling — ${cpus().length} cores (${cpus()[0]?.model ?? 'cpu'}), node ${process.version}, ${connections} connections, ${rounds} x ${duration}s per worker count\n`)
  console.log('round  workers   tokens/s    p50 ms    p99 ms  errors')
  for (const r of runs) {
    console.log(
      `${String(r.round).padStart(5)}${String(r.workers).padStart(9)}${String(r.tokensPerSecond).padStart(11)}${String(r.latencyMs.p50).padStart(10)}${String(r.latencyMs.p99).padStart(10)}${String(r.errors).padStart(8)}`,
    )
  }
  console.log(`\n--workers 2: ${two} tokens/s = ${ratio} x --workers 1 (${one} tokens/s)`)
  console.log(`load average (1 min) ${loadBefore.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after, on ${cpus().length} cores`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    loadAverage1m: { before: +loadBefore.toFixed(2), after: +loadavg()[0].toFixed(2) },
    durationSeconds: duration,
    connections,
    runs,
    oneWorkerTokensPerSecond: one,
    twoWorkersTokensPerSecond: two,
    twoWorkersVsOne: ratio,
  }
  writeFileSync(join(root, 'bench/results/workers.json'), JSON.stringify(report, null, 2) + '\n')
  console.log('wrote bench/results/workers.json')
  if (runs.some((r) => r.errors > 0)) {
    console.error('errors during the benchmark')
    process.exitCode = 1
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
