#!/usr/bin/env node
// Issuance benchmark: the broker (built, `node dist/main.js`) on the Redis store, driven over HTTP
// by autocannon from this process. Baselines measured in the same run on the same machine:
//   - a trivial route (GET /healthz) on the same server: what HTTP alone costs here;
//   - raw ES256 signing with node:crypto: what the signature alone costs here.
// Results are reported as ratios, because the machine is shared and absolute numbers drift.
//
//   npm run bench                 # 5 s per scenario
//   npm run bench -- --duration 10 --connections 1,16,64
import { spawn } from 'node:child_process'
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { hash } from '@node-rs/argon2'
import autocannon from 'autocannon'
import Redis from 'ioredis'

const root = resolve(import.meta.dirname, '..')

/** A config file next to the policy that lifts the per-client rate limit for the load generator. */
function benchConfigFile(policyFile) {
  const file = join(dirname(policyFile), 'config.json')
  writeFileSync(file, JSON.stringify({ limits: { clientRequestsPerSecond: 1_000_000, clientBurst: 1_000_000 } }))
  return file
}
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '1,16,64' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const duration = Number(args.duration)
const connectionLevels = args.connections.split(',').map(Number)

const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })

async function startBroker() {
  const dir = mkdtempSync(join(tmpdir(), 'writ-bench-'))
  const secret = randomBytes(24).toString('base64url')
  const policyFile = join(dir, 'policy.yaml')
  writeFileSync(
    policyFile,
    `version: 1
clients:
  - id: bench-agent
    auth: client_secret
    secret_hash: "${await hash(secret, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 })}"
    rules: [docs-read]
    max_live_grants: 1000000
rules:
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
`,
  )
  const port = await freePort()
  const prefix = `writ-bench-${randomBytes(4).toString('hex')}:`
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: args['redis-url'],
      WRIT_KEY_PREFIX: prefix,
      WRIT_KEK: randomBytes(32).toString('base64'),
      WRIT_POLICY: policyFile,
      // The per-client rate limit (config limits) would cap the load this benchmark drives.
      WRIT_CONFIG: benchConfigFile(policyFile),
      WRIT_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break
    } catch {}
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('broker did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
  return { base, child, secret, prefix }
}

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
  const { base, child, secret, prefix } = await startBroker()
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
    const redis = new Redis(args['redis-url'])
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length) await redis.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    await redis.quit()
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
