#!/usr/bin/env node
// A/B of this checkout against another built checkout of writ (`--base <dir>`, e.g. an export of
// main with `npm run build` run in it and node_modules linked), for changes whose cost is smaller
// than a shared machine's drift between two `npm run bench` runs. Both sides run interleaved in
// short blocks, alternating which goes first, and each side is read against its own baseline of the
// same block:
//   1. Cold-token verification with `liveness: redis`: the base's verifier and this one, each a
//      fresh verifier per block (every token new to it), on the same tokens from this checkout's
//      broker; wall time and this process's CPU per token, and the ratio to jose's `jwtVerify` on
//      the same tokens in the same block.
//   2. Issuance, `POST /oauth/token`: the base's broker and this one, on the same Redis; the
//      broker's CPU per token (/proc schedstat) and the rate as a ratio of the trivial route
//      (`GET /healthz`) on the same server, measured right before and after.
// Reports medians, and the mean difference per token with its 95 % confidence interval.
//
//   node bench/compare-builds.js --base /tmp/writ-main
//   node bench/compare-builds.js --base /tmp/writ-main --verify-blocks 200 --issue-blocks 20
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { cpuSeconds, deletePrefix, root, startBenchBroker } from './lib.js'

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    'verify-blocks': { type: 'string', default: '200' },
    'tokens-per-block': { type: 'string', default: '60' },
    'issue-blocks': { type: 'string', default: '20' },
    'issue-seconds': { type: 'string', default: '2' },
    connections: { type: 'string', default: '16' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
if (!args.base) {
  console.error('usage: node bench/compare-builds.js --base <dir of another built writ checkout>')
  process.exit(2)
}
const baseDir = resolve(args.base)
const REDIS_URL = args['redis-url']
const AUDIENCE = 'https://git.example.com/acme/app'
const VERIFY_BLOCKS = Number(args['verify-blocks'])
const PER_BLOCK = Number(args['tokens-per-block'])
const ISSUE_BLOCKS = Number(args['issue-blocks'])
const ISSUE_SECONDS = Number(args['issue-seconds'])
const CONNECTIONS = Number(args.connections)

const baseLib = await import(join(baseDir, 'bench/lib.js'))
const libs = { base: await import(join(baseDir, 'dist/verifier/index.js')), this: await import(join(root, 'dist/verifier/index.js')) }

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const round = (n, d = 3) => +n.toFixed(d)
/** Mean of paired differences with a 95 % confidence interval (normal approximation). */
function meanDifference(diffs) {
  const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length
  const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / (diffs.length - 1))
  const half = (1.96 * sd) / Math.sqrt(diffs.length)
  return { mean: round(mean, 1), ci95: [round(mean - half, 1), round(mean + half, 1)], median: round(median(diffs), 1) }
}
const order = (block) => (block % 2 ? ['this', 'base'] : ['base', 'this'])

const issuanceRequest = (broker) => ({
  url: `${broker.base}/oauth/token`,
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`bench-agent:${broker.secret}`).toString('base64')}`,
  },
  body: new URLSearchParams({
    grant_type: 'client_credentials',
    task_id: 'BENCH-COMPARE',
    authorization_details: JSON.stringify([{ type: 'repo', actions: ['read'], locations: [AUDIENCE], identifier: 'docs/**' }]),
  }).toString(),
})

async function verification() {
  const broker = await startBenchBroker({ redisUrl: REDIS_URL, name: 'compare-verify' })
  try {
    const request = issuanceRequest(broker)
    const tokens = []
    for (let i = 0; i <= PER_BLOCK; i++) {
      const res = await fetch(request.url, request)
      if (res.status !== 200) throw new Error(`issuance answered ${res.status}: ${await res.text()}`)
      tokens.push((await res.json()).access_token)
    }
    const keySet = createLocalJWKSet(await (await fetch(`${broker.base}/.well-known/jwks.json`)).json())
    const jose = (t) => jwtVerify(t, keySet, { issuer: broker.base, audience: AUDIENCE, typ: 'at+jwt', algorithms: ['ES256', 'EdDSA'] })
    /** Wall and CPU microseconds per token of `verify` over the block's tokens. */
    const measure = async (verify) => {
      const cpu = process.cpuUsage()
      const start = performance.now()
      for (let i = 0; i < PER_BLOCK; i++) await verify(tokens[i])
      const used = process.cpuUsage(cpu)
      return { wall: ((performance.now() - start) * 1000) / PER_BLOCK, cpu: (used.user + used.system) / PER_BLOCK }
    }
    const cold = async (side) => {
      const verifier = libs[side].createVerifier({
        issuer: broker.base,
        audience: AUDIENCE,
        jwksUri: `${broker.base}/.well-known/jwks.json`,
        liveness: { mode: 'redis', redis: REDIS_URL, keyPrefix: broker.prefix },
      })
      // The key set fetch and the first connection are not part of a token's cost.
      await verifier.verify(tokens[PER_BLOCK])
      const result = await measure((t) => verifier.verify(t))
      await verifier.close()
      return result
    }
    for (let i = 0; i < 3; i++) for (const side of ['base', 'this']) await cold(side)
    const blocks = []
    for (let b = 0; b < VERIFY_BLOCKS; b++) {
      const before = await measure(jose)
      const row = {}
      for (const side of order(b)) row[side] = await cold(side)
      const after = await measure(jose)
      row.jose = (before.wall + after.wall) / 2
      blocks.push(row)
    }
    return {
      blocks: VERIFY_BLOCKS,
      tokensPerBlock: PER_BLOCK,
      wallUsPerToken: { base: round(median(blocks.map((r) => r.base.wall)), 1), this: round(median(blocks.map((r) => r.this.wall)), 1), jose: round(median(blocks.map((r) => r.jose)), 1) },
      cpuUsPerToken: { base: round(median(blocks.map((r) => r.base.cpu)), 1), this: round(median(blocks.map((r) => r.this.cpu)), 1) },
      vsJose: { base: round(median(blocks.map((r) => r.jose / r.base.wall))), this: round(median(blocks.map((r) => r.jose / r.this.wall))) },
      addedCpuUsPerToken: meanDifference(blocks.map((r) => r.this.cpu - r.base.cpu)),
      addedWallUsPerToken: meanDifference(blocks.map((r) => r.this.wall - r.base.wall)),
    }
  } finally {
    broker.child.kill('SIGTERM')
    await deletePrefix(REDIS_URL, broker.prefix)
  }
}

const cannon = (opts) =>
  new Promise((res, rej) => autocannon({ duration: ISSUE_SECONDS, connections: CONNECTIONS, ...opts }, (err, r) => (err ? rej(err) : res(r))))

async function issuance() {
  const brokers = {
    base: await baseLib.startBenchBroker({ redisUrl: REDIS_URL, name: 'compare-base' }),
    this: await startBenchBroker({ redisUrl: REDIS_URL, name: 'compare-this' }),
  }
  try {
    for (const side of ['base', 'this']) await cannon({ ...issuanceRequest(brokers[side]), duration: 2 })
    const blocks = []
    for (let b = 0; b < ISSUE_BLOCKS; b++) {
      const row = {}
      for (const side of order(b)) {
        const broker = brokers[side]
        const trivialBefore = (await cannon({ url: `${broker.base}/healthz` })).requests.average
        const cpu = cpuSeconds(broker.child.pid)
        const issued = await cannon(issuanceRequest(broker))
        const cpuUs = cpu === null ? null : ((cpuSeconds(broker.child.pid) - cpu) * 1e6) / issued.requests.total
        const trivialAfter = (await cannon({ url: `${broker.base}/healthz` })).requests.average
        if (issued.non2xx + issued.errors > 0) throw new Error(`${side}: ${issued.non2xx + issued.errors} failed token requests`)
        row[side] = { perSecond: issued.requests.average, vsTrivial: issued.requests.average / ((trivialBefore + trivialAfter) / 2), cpuUs }
      }
      blocks.push(row)
    }
    const cpu = blocks[0].base.cpuUs !== null
    return {
      blocks: ISSUE_BLOCKS,
      secondsPerRun: ISSUE_SECONDS,
      connections: CONNECTIONS,
      tokensPerSecond: { base: Math.round(median(blocks.map((r) => r.base.perSecond))), this: Math.round(median(blocks.map((r) => r.this.perSecond))) },
      vsTrivialRoute: { base: round(median(blocks.map((r) => r.base.vsTrivial))), this: round(median(blocks.map((r) => r.this.vsTrivial))) },
      ...(cpu
        ? {
            brokerCpuUsPerToken: { base: round(median(blocks.map((r) => r.base.cpuUs)), 1), this: round(median(blocks.map((r) => r.this.cpuUs)), 1) },
            addedBrokerCpuUsPerToken: meanDifference(blocks.map((r) => r.this.cpuUs - r.base.cpuUs)),
          }
        : {}),
    }
  } finally {
    for (const [side, broker] of Object.entries(brokers)) {
      broker.child.kill('SIGTERM')
      await (side === 'base' ? baseLib : { deletePrefix }).deletePrefix(REDIS_URL, broker.prefix)
    }
  }
}

const loadBefore = loadavg()[0]
const report = {
  date: new Date().toISOString(),
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  base: baseDir,
  coldVerificationRedisLiveness: await verification(),
  issuance: await issuance(),
}
// How busy the machine was: the 1-minute load average when the run started and when it ended.
report.loadAverage = { start: round(loadBefore, 1), end: round(loadavg()[0], 1) }
console.log(JSON.stringify(report, null, 2))
mkdirSync(join(root, 'bench/results'), { recursive: true })
writeFileSync(join(root, 'bench/results/compare-builds.json'), JSON.stringify(report, null, 2) + '\n')
console.log('\nwrote bench/results/compare-builds.json')
