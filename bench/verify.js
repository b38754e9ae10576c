#!/usr/bin/env node
// Verifier benchmark: the broker (built, `node dist/main.js`) on Redis, and verifiers from
// dist/verifier in this process.
//   1. Revocation propagation: the time from sending `POST /oauth/revoke` until every one of 10
//      verifiers (each with its own Redis subscription, each holding the grant as confirmed live)
//      refuses the token. p50/p99 over many revocations; goal p99 <= 20 ms on loopback.
//   2. Verification rate for a cold token (each verified once) and a repeated token (its signature
//      remembered), as a ratio of jose's raw `jwtVerify` on the same tokens in the same run,
//      with `liveness: none` (pure verification) and `liveness: redis`.
// Results are ratios because the machine is shared and absolute numbers drift.
//
//   npm run bench                      # builds, then runs every benchmark
//   node bench/verify.js --revocations 500 --tokens 5000
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { createVerifier } from '../dist/verifier/index.js'
import { deletePrefix, root, startBenchBroker } from './lib.js'


/** A config file next to the policy that lifts the per-client rate limit for the load generator. */
const { values: args } = parseArgs({
  options: {
    revocations: { type: 'string', default: '300' },
    verifiers: { type: 'string', default: '10' },
    tokens: { type: 'string', default: '3000' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const REVOCATIONS = Number(args.revocations)
const VERIFIERS = Number(args.verifiers)
const TOKENS = Number(args.tokens)
const REDIS_URL = args['redis-url']
const AUDIENCE = 'https://git.example.com/acme/app'

const yieldToIo = () => new Promise((r) => setImmediate(r))

async function startBroker() {
  const broker = await startBenchBroker({ redisUrl: REDIS_URL, name: 'bench-verify' })
  const authorization = `Basic ${Buffer.from(`bench-agent:${broker.secret}`).toString('base64')}`
  return { ...broker, authorization }
}

async function issue(broker) {
  const res = await fetch(`${broker.base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: broker.authorization },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      task_id: 'BENCH-VERIFY',
      authorization_details: JSON.stringify([{ type: 'repo', actions: ['read'], locations: [AUDIENCE], identifier: 'docs/**' }]),
    }).toString(),
  })
  if (res.status !== 200) throw new Error(`issuance answered ${res.status}: ${await res.text()}`)
  return (await res.json()).access_token
}

async function outcome(verifier, token) {
  try {
    await verifier.verify(token)
    return 'ok'
  } catch (err) {
    return err.code ?? 'error'
  }
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
const round = (n, d = 2) => +n.toFixed(d)

function makeVerifier(broker, liveness) {
  return createVerifier({
    issuer: broker.base,
    audience: AUDIENCE,
    jwksUri: `${broker.base}/.well-known/jwks.json`,
    liveness,
  })
}

async function propagation(broker) {
  const verifiers = Array.from({ length: VERIFIERS }, () =>
    makeVerifier(broker, { mode: 'redis', redis: REDIS_URL, keyPrefix: broker.prefix }),
  )
  const deadline = Date.now() + 10_000
  while (!verifiers.every((v) => v.status().subscribed)) {
    if (Date.now() > deadline) throw new Error('verifiers did not subscribe')
    await new Promise((r) => setTimeout(r, 20))
  }
  const samples = []
  const revokeCall = []
  let unconfirmed = 0
  try {
    for (let i = 0; i < REVOCATIONS + 20; i++) {
      const token = await issue(broker)
      for (const v of verifiers) {
        if ((await outcome(v, token)) !== 'ok') throw new Error('a fresh token was refused')
      }
      if (!verifiers.every((v) => v.status().cachedGrants > 0)) unconfirmed++
      const start = performance.now()
      const res = await fetch(`${broker.base}/oauth/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: broker.authorization },
        body: new URLSearchParams({ token }).toString(),
      })
      if (res.status !== 200) throw new Error(`revoke answered ${res.status}`)
      const returned = performance.now()
      const pending = new Set(verifiers)
      const giveUp = returned + 5_000
      while (pending.size > 0) {
        for (const v of [...pending]) if ((await outcome(v, token)) === 'token_revoked') pending.delete(v)
        if (pending.size === 0) break
        if (performance.now() > giveUp) throw new Error(`${pending.size} verifiers still accept a revoked token after 5 s`)
        await yieldToIo()
      }
      // The first 20 revocations warm up the JIT and the connections.
      if (i >= 20) {
        samples.push(performance.now() - start)
        revokeCall.push(returned - start)
      }
    }
  } finally {
    await Promise.all(verifiers.map((v) => v.close()))
  }
  samples.sort((a, b) => a - b)
  revokeCall.sort((a, b) => a - b)
  return {
    verifiers: VERIFIERS,
    revocations: samples.length,
    allRejectingMs: { p50: round(percentile(samples, 50)), p99: round(percentile(samples, 99)), max: round(samples.at(-1)) },
    revokeCallMs: { p50: round(percentile(revokeCall, 50)), p99: round(percentile(revokeCall, 99)) },
    goalP99Ms: 20,
    metGoal: percentile(samples, 99) <= 20,
    roundsWhereSomeVerifierHadNotCached: unconfirmed,
  }
}

/** Sequential verifications per second of `fn` over `tokens`, best of 3 rounds. */
async function rate(tokens, fn) {
  let best = 0
  for (let round = 0; round < 3; round++) {
    const start = performance.now()
    for (const token of tokens) await fn(token)
    best = Math.max(best, tokens.length / ((performance.now() - start) / 1000))
  }
  return Math.round(best)
}

async function verificationRates(broker) {
  const jwks = await (await fetch(`${broker.base}/.well-known/jwks.json`)).json()
  const keySet = createLocalJWKSet(jwks)
  const jose = (token) =>
    jwtVerify(token, keySet, { issuer: broker.base, audience: AUDIENCE, typ: 'at+jwt', algorithms: ['ES256', 'EdDSA'] })

  const tokens = []
  for (let i = 0; i < TOKENS; i++) tokens.push(await issue(broker))
  const repeated = Array.from({ length: TOKENS }, () => tokens[0])

  const results = []
  for (const [name, liveness] of [
    ['none', { mode: 'none' }],
    ['redis', { mode: 'redis', redis: REDIS_URL, keyPrefix: broker.prefix }],
  ]) {
    // Warm-up: JIT for both sides, the JWKS fetch, the subscription.
    const warm = makeVerifier(broker, liveness)
    for (const t of tokens.slice(0, 200)) {
      await warm.verify(t)
      await jose(t)
    }
    await warm.close()
    // Cold: a fresh verifier per round, so every token is new to it.
    let coldBest = 0
    for (let round = 0; round < 3; round++) {
      const verifier = makeVerifier(broker, liveness)
      await verifier.verify(tokens[0])
      const start = performance.now()
      for (const t of tokens) await verifier.verify(t)
      coldBest = Math.max(coldBest, tokens.length / ((performance.now() - start) / 1000))
      await verifier.close()
    }
    const joseCold = await rate(tokens, jose)
    const verifier = makeVerifier(broker, liveness)
    const repeatedRate = await rate(repeated, (t) => verifier.verify(t))
    const joseRepeated = await rate(repeated, jose)
    await verifier.close()
    results.push(
      { token: 'cold', liveness: name, perSecond: Math.round(coldBest), josePerSecond: joseCold, vsJose: round(coldBest / joseCold, 3) },
      { token: 'repeated', liveness: name, perSecond: repeatedRate, josePerSecond: joseRepeated, vsJose: round(repeatedRate / joseRepeated, 3) },
    )
  }
  return results
}

async function main() {
  const broker = await startBroker()
  let report
  try {
    const revocation = await propagation(broker)
    const rates = await verificationRates(broker)
    report = { revocation, rates }
  } finally {
    broker.child.kill('SIGTERM')
    await deletePrefix(REDIS_URL, broker.prefix)
  }

  const { revocation, rates } = report
  console.log(`\nwrit verifier benchmark — ${cpus().length} cores (${cpus()[0]?.model ?? 'cpu'}), node ${process.version}\n`)
  console.log(`revocation propagation: POST /oauth/revoke sent -> all ${revocation.verifiers} verifiers refuse the token (${revocation.revocations} revocations)`)
  console.log(`  all rejecting  p50 ${revocation.allRejectingMs.p50} ms  p99 ${revocation.allRejectingMs.p99} ms  max ${revocation.allRejectingMs.max} ms  (goal p99 <= 20 ms: ${revocation.metGoal ? 'met' : 'NOT met'})`)
  console.log(`  of which the revoke call itself  p50 ${revocation.revokeCallMs.p50} ms  p99 ${revocation.revokeCallMs.p99} ms`)
  console.log('\nverification rate (sequential), as a ratio of jose jwtVerify on the same tokens')
  console.log('token      liveness   verify/s    jose/s   ratio')
  for (const r of rates) {
    console.log(`${r.token.padEnd(11)}${r.liveness.padEnd(9)}${String(r.perSecond).padStart(10)}${String(r.josePerSecond).padStart(10)}${String(r.vsJose).padStart(8)}`)
  }
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(
    join(root, 'bench/results/verify.json'),
    JSON.stringify({ date: new Date().toISOString(), machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version }, ...report }, null, 2) + '\n',
  )
  console.log('\nwrote bench/results/verify.json')
  if (!revocation.metGoal) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
