#!/usr/bin/env node
// Issuance benchmark: the broker (built, `node dist/main.js`) on the Redis store, driven over HTTP
// by autocannon from this process. Baselines measured in the same run on the same machine:
//   - a trivial route (GET /healthz) on the same server: what HTTP alone costs here;
//   - raw ES256 signing with node:crypto: what the signature alone costs here.
// Results are reported as ratios, because the machine is shared and absolute numbers drift.
//
//   npm run bench                 # 5 s per scenario
//   npm run bench -- --duration 10 --connections 1,16,64
import { generateKeyPairSync, sign } from 'node:crypto'
import { writeFileSync, mkdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { deletePrefix, root, startBenchBroker } from './lib.js'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '1,16,64' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const duration = Number(args.duration)
const connectionLevels = args.connections.split(',').map(Number)

function cannon(opts) {
  return new Promise((res, rej) => {
    autocannon({ duration, ...opts }, (err, result) => (err ? rej(err) : res(result)))
  })
}

function summarize(name, connections, r) {
  const errors = r.errors + r.timeouts + r.non2xx
  return {
    name,
    connections,
    requestsPerSecond: Math.round(r.requests.average),
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99 },
    errors,
  }
}

function rawSigning(seconds) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const data = Buffer.from('eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.' + 'x'.repeat(600))
  const end = performance.now() + seconds * 1000
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
    n += 100
  }
  return Math.round(n / seconds)
}

async function main() {
  const { base, child, secret, prefix } = await startBenchBroker({ redisUrl: args['redis-url'] })
  const results = []
  try {
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      task_id: 'BENCH-1',
      authorization_details: JSON.stringify([
        { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
      ]),
    }).toString()
    const issuance = {
      url: `${base}/oauth/token`,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`bench-agent:${secret}`).toString('base64')}`,
      },
      body,
    }
    // Warm up: JIT, the secret cache, Redis scripts.
    await cannon({ ...issuance, duration: 2, connections: 16 })
    for (const c of connectionLevels) {
      results.push(summarize('trivial GET /healthz', c, await cannon({ url: `${base}/healthz`, connections: c })))
      results.push(summarize('issuance POST /oauth/token', c, await cannon({ ...issuance, connections: c })))
    }
  } finally {
    child.kill('SIGTERM')
    await deletePrefix(args['redis-url'], prefix)
  }
  const signPerSecond = rawSigning(Math.min(duration, 3))

  console.log(`\nwrit issuance benchmark — ${cpus().length} cores (${cpus()[0]?.model ?? 'cpu'}), node ${process.version}, ${duration}s per scenario\n`)
  console.log('scenario                        conns      req/s    p50 ms    p99 ms  errors')
  for (const r of results) {
    console.log(
      `${r.name.padEnd(32)}${String(r.connections).padStart(5)}${String(r.requestsPerSecond).padStart(11)}${String(r.latencyMs.p50).padStart(10)}${String(r.latencyMs.p99).padStart(10)}${String(r.errors).padStart(8)}`,
    )
  }
  console.log(`${'raw ES256 sign (node:crypto)'.padEnd(32)}${'-'.padStart(5)}${String(signPerSecond).padStart(11)}`)
  const ratios = connectionLevels.map((c) => {
    const t = results.find((r) => r.connections === c && r.name.startsWith('trivial'))
    const i = results.find((r) => r.connections === c && r.name.startsWith('issuance'))
    return {
      connections: c,
      issuancePerSecond: i.requestsPerSecond,
      vsTrivialRoute: +(i.requestsPerSecond / t.requestsPerSecond).toFixed(3),
      vsRawSigning: +(i.requestsPerSecond / signPerSecond).toFixed(3),
    }
  })
  console.log('\nissuance as a ratio of the same-run baselines (goal: >= 0.5 of the trivial route, >= 5000 tokens/s)')
  for (const r of ratios) {
    console.log(`  ${String(r.connections).padStart(3)} conns: ${r.issuancePerSecond} tokens/s = ${r.vsTrivialRoute} x trivial route, ${r.vsRawSigning} x raw signing`)
  }
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  const report = {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    durationSeconds: duration,
    scenarios: results,
    rawSigningPerSecond: signPerSecond,
    ratios,
  }
  writeFileSync(join(root, 'bench/results/latest.json'), JSON.stringify(report, null, 2) + '\n')
  console.log('\nwrote bench/results/latest.json')
  if (results.some((r) => r.errors > 0)) {
    console.error('errors during the benchmark')
    process.exitCode = 1
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
