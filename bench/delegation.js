#!/usr/bin/env node
// Delegation benchmark: the broker (built, `node dist/main.js`) on Redis, and verifiers from
// dist/verifier in this process.
//   1. Token exchange rate (RFC 8693, a sub-agent narrowing a parent token) as a ratio of
//      client-credentials issuance, measured in the same run against the same broker: rounds of
//      each alternate, best round of each counts. A ratio, because the machine is shared and
//      absolute numbers drift.
//   2. Subtree revocation: a tree of 1,001 grants (a root, 20 children, 49 grandchildren each) is
//      held as confirmed live by each of 10 verifiers (`redis` liveness, each in a worker thread of
//      its own, as each service is its own process); the root is revoked with
//      `POST /oauth/revoke`, and the time from sending it until each verifier refuses each member
//      (drops it from its cache of confirmed-live grants, on the revocation message naming it) is
//      recorded (p50/p99 over every verifier × member), and until all of them refuse every member
//      (each tree's time listed); afterwards every verifier is asked about every member and must
//      refuse it. One tree of the same size is revoked first, uncounted. Goal: p99 <= 20 ms.
//
//   npm run bench                          # builds, then runs every benchmark
//   node bench/delegation.js --requests 2000 --trees 5
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { hashSecret } from '../dist/client-auth/index.js'
import { Worker } from 'node:worker_threads'
import { deletePrefix, root, startBenchBroker } from './lib.js'

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    trees: { type: 'string', default: '5' },
    verifiers: { type: 'string', default: '10' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const REQUESTS = Number(args.requests)
const CONNECTIONS = Number(args.connections)
const ROUNDS = Number(args.rounds)
const TREES = Number(args.trees)
const VERIFIERS = Number(args.verifiers)
const REDIS_URL = args['redis-url']
const AUDIENCE = 'https://git.example.com/acme/app'
const CHILDREN = 20
const GRANDCHILDREN = 49
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
const round = (n, d = 2) => +n.toFixed(d)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** The bench policy: bench-agent → bench-worker → bench-sub, two hand-overs deep. */
async function writeDelegationPolicy(dir, secret) {
  const hash = await hashSecret(secret)
  const client = (id, to) => `  - id: ${id}
    auth: client_secret
    secret_hash: "${hash}"
    rules: [docs-read]
    max_live_grants: 1000000
${to ? `    delegate_to: { clients: [${to}], max_depth: 2 }\n` : ''}`
  const file = join(dir, 'delegation-policy.yaml')
  writeFileSync(
    file,
    `version: 1
clients:
${client('bench-agent', 'bench-worker')}${client('bench-worker', 'bench-sub')}${client('bench-sub')}rules:
  - id: docs-read
    match: { type: repo, actions: [read], locations: ["https://git.example.com/acme/*"], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
`,
  )
  return file
}

function client(broker, id, secret) {
  const authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
  return async (params) => {
    const res = await fetch(`${broker.base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      body: new URLSearchParams(params).toString(),
    })
    if (res.status !== 200) throw new Error(`${id}: the token endpoint answered ${res.status}: ${await res.text()}`)
    return res.json()
  }
}

const grants = (identifier) => JSON.stringify([{ type: 'repo', actions: ['read'], locations: [AUDIENCE], identifier }])

/** Requests per second of `call`, REQUESTS of them with CONNECTIONS in flight. */
async function rate(call) {
  let next = 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next++ < REQUESTS) await call()
    }),
  )
  return REQUESTS / ((performance.now() - start) / 1000)
}

async function exchangeRate(agent, worker) {
  const parent = await agent({ grant_type: 'client_credentials', task_id: 'BENCH-DELEGATION', authorization_details: grants('docs/**'), ttl: '15m' })
  const issue = () => agent({ grant_type: 'client_credentials', task_id: 'BENCH-DELEGATION', authorization_details: grants('docs/**') })
  const exchange = () =>
    worker({ grant_type: TOKEN_EXCHANGE, subject_token: parent.access_token, subject_token_type: ACCESS_TOKEN, authorization_details: grants('docs/a.md') })
  // Warm up both paths (JIT, connections, the secret cache).
  for (let i = 0; i < 200; i++) await Promise.all([issue(), exchange()])
  const issuance = []
  const exchanges = []
  for (let r = 0; r < ROUNDS; r++) {
    issuance.push(await rate(issue))
    exchanges.push(await rate(exchange))
  }
  const best = (list) => Math.max(...list)
  return {
    requestsPerRound: REQUESTS,
    connections: CONNECTIONS,
    clientCredentialsPerSecond: round(best(issuance), 0),
    exchangesPerSecond: round(best(exchanges), 0),
    ratio: round(best(exchanges) / best(issuance)),
  }
}

/** A verifier in a worker thread (bench/delegation-verifier.js), driven by request and answer. */
function verifierThread(broker) {
  const worker = new Worker(new URL('./delegation-verifier.js', import.meta.url), {
    workerData: { issuer: broker.base, audience: AUDIENCE, redisUrl: REDIS_URL, keyPrefix: broker.prefix },
  })
  let next = 0
  const waiting = new Map()
  worker.on('message', ({ id, result, error }) => {
    const { resolve, reject } = waiting.get(id)
    waiting.delete(id)
    if (error) reject(new Error(error))
    else resolve(result)
  })
  worker.on('error', (err) => {
    for (const { reject } of waiting.values()) reject(err)
  })
  return {
    ask: (type, args = {}) =>
      new Promise((resolve, reject) => {
        const id = next++
        waiting.set(id, { resolve, reject })
        worker.postMessage({ id, type, ...args })
      }),
    stop: () => worker.terminate(),
  }
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6

/**
 * Builds a tree (a root, `children` children, `grandchildren` under each), has every verifier hold
 * every member as confirmed live, revokes the root, and returns when each verifier saw each member
 * gone (ms after the revocation was sent) and how long the revocation call took.
 */
async function revokeTree(broker, clients, verifiers, agentSecret, t, { children, grandchildren }) {
  const { agent, worker, sub } = clients
  const rootToken = (await agent({ grant_type: 'client_credentials', task_id: `BENCH-TREE-${t}`, authorization_details: grants('docs/**'), ttl: '15m' })).access_token
  const members = [rootToken]
  for (let c = 0; c < children; c++) {
    const child = (await worker({ grant_type: TOKEN_EXCHANGE, subject_token: rootToken, subject_token_type: ACCESS_TOKEN, authorization_details: grants('docs/**') })).access_token
    members.push(child)
    for (let g = 0; g < grandchildren; g += 8) {
      const level = await Promise.all(
        Array.from({ length: Math.min(8, grandchildren - g) }, () =>
          sub({ grant_type: TOKEN_EXCHANGE, subject_token: child, subject_token_type: ACCESS_TOKEN, authorization_details: grants('docs/a.md') }),
        ),
      )
      members.push(...level.map((l) => l.access_token))
    }
  }
  await Promise.all(verifiers.map((v) => v.ask('hold', { members })))
  // A member leaves a verifier's cache of confirmed-live grants only when a revocation message
  // names it or a grant above it, and the broker deletes a grant's record before it publishes
  // that message, so a member gone from the cache is one the verifier refuses from then on
  // (checked below, after the clock stops). Watching the cache sizes, woken by the message,
  // keeps the bench's own work out of what it times: verifying 1,001 tokens per sweep would
  // measure the sweep.
  await Promise.all(verifiers.map((v) => v.ask('arm', { count: members.length })))
  const watched = verifiers.map((v) => v.ask('watch'))
  const start = nowMs()
  const res = await fetch(`${broker.base}/oauth/revoke`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`bench-agent:${agentSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token: rootToken }).toString(),
  })
  if (res.status !== 200) throw new Error(`revoke answered ${res.status}`)
  const revokeMs = nowMs() - start
  const drops = (await Promise.all(watched)).map((times) => times.map((at) => at - start))
  await Promise.all(verifiers.map((v) => v.ask('refused', { members })))
  return { drops, revokeMs }
}

async function subtreeRevocation(broker, agent, worker, sub, agentSecret) {
  const verifiers = Array.from({ length: VERIFIERS }, () => verifierThread(broker))
  const clients = { agent, worker, sub }
  const perMember = []
  const allRefusing = []
  const revokeCall = []
  try {
    await Promise.all(verifiers.map((v) => v.ask('ready')))
    // One tree first, not counted: the revocation path's first run at this size (JIT, connections,
    // the verifiers' caches and heaps growing). Each counted tree's time is listed (perTree).
    await revokeTree(broker, clients, verifiers, agentSecret, 'warm-up', { children: CHILDREN, grandchildren: GRANDCHILDREN })
    for (let t = 0; t < TREES; t++) {
      const { drops, revokeMs } = await revokeTree(broker, clients, verifiers, agentSecret, t, { children: CHILDREN, grandchildren: GRANDCHILDREN })
      revokeCall.push(revokeMs)
      for (const times of drops) perMember.push(...times)
      allRefusing.push(Math.max(...drops.flat()))
    }
  } finally {
    await Promise.all(verifiers.map((v) => v.ask('close').catch(() => undefined)))
    await Promise.all(verifiers.map((v) => v.stop()))
  }
  const perTreeMs = allRefusing.map((ms) => round(ms))
  perMember.sort((a, b) => a - b)
  allRefusing.sort((a, b) => a - b)
  revokeCall.sort((a, b) => a - b)
  const members = 1 + CHILDREN + CHILDREN * GRANDCHILDREN
  return {
    treeGrants: members,
    verifiers: VERIFIERS,
    trees: TREES,
    refusedMs: { p50: round(percentile(perMember, 50)), p99: round(percentile(perMember, 99)), max: round(perMember.at(-1)) },
    allRefusingMs: { p50: round(percentile(allRefusing, 50)), max: round(allRefusing.at(-1)), perTree: perTreeMs },
    revokeCallMs: { p50: round(percentile(revokeCall, 50)), max: round(revokeCall.at(-1)) },
    goalP99Ms: 20,
    metGoal: percentile(perMember, 99) <= 20,
  }
}

async function main() {
  const secret = randomBytes(24).toString('base64url')
  const { mkdtempSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'writ-bench-delegation-'))
  const policy = await writeDelegationPolicy(dir, secret)
  const broker = await startBenchBroker({ redisUrl: REDIS_URL, name: 'bench-delegation', env: { WRIT_POLICY: policy } })
  const agent = client(broker, 'bench-agent', secret)
  const worker = client(broker, 'bench-worker', secret)
  const sub = client(broker, 'bench-sub', secret)
  try {
    const exchange = await exchangeRate(agent, worker)
    console.log('token exchange vs client credentials', exchange)
    const subtree = await subtreeRevocation(broker, agent, worker, sub, secret)
    console.log('subtree revocation', subtree)
    const result = { date: new Date().toISOString(), cpus: cpus().length, exchange, subtree }
    mkdirSync(join(root, 'bench/results'), { recursive: true })
    writeFileSync(join(root, 'bench/results/delegation.json'), JSON.stringify(result, null, 2) + '\n')
    console.log('\nwrote bench/results/delegation.json')
  } finally {
    broker.child.kill()
    await deletePrefix(REDIS_URL, broker.prefix)
  }
}

await main()
