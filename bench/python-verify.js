#!/usr/bin/env node
// Revocation propagation, JS verifier next to Python verifier, in one run against one broker
// (`node dist/main.js` on Redis): the time from sending `POST /oauth/revoke` until every one of N
// verifiers (each holding the grant as confirmed live, each with its own subscription) refuses the
// token. The JS verifiers run in this process, the Python ones (python/, RedisLiveness) in
// /usr/bin/python3 (bench/python_propagation.py), one after the other.
//
//   npm run build && node bench/python-verify.js --revocations 200 --verifiers 5
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createVerifier } from '../dist/verifier/index.js'
import { deletePrefix, root, startBenchBroker } from './lib.js'

const { values: args } = parseArgs({
  options: {
    revocations: { type: 'string', default: '200' },
    verifiers: { type: 'string', default: '5' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const REVOCATIONS = Number(args.revocations)
const VERIFIERS = Number(args.verifiers)
const REDIS_URL = args['redis-url']
const AUDIENCE = 'https://git.example.com/acme/app'
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
const round = (n) => +n.toFixed(2)

async function outcome(verifier, token) {
  try {
    await verifier.verify(token)
    return 'ok'
  } catch (err) {
    return err.code ?? 'error'
  }
}

async function jsPropagation(broker, authorization) {
  const verifiers = Array.from({ length: VERIFIERS }, () =>
    createVerifier({ issuer: broker.base, audience: AUDIENCE, jwksUri: `${broker.base}/.well-known/jwks.json`,
      liveness: { mode: 'redis', redis: REDIS_URL, keyPrefix: broker.prefix } }))
  while (!verifiers.every((v) => v.status().subscribed)) await new Promise((r) => setTimeout(r, 10))
  const samples = []
  for (let i = 0; i < REVOCATIONS + 20; i++) {
    const res = await fetch(`${broker.base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      body: new URLSearchParams({ grant_type: 'client_credentials', task_id: 'BENCH-VERIFY',
        authorization_details: JSON.stringify([{ type: 'repo', actions: ['read'], locations: [AUDIENCE], identifier: 'docs/**' }]) }),
    })
    const token = (await res.json()).access_token
    for (const v of verifiers) if ((await outcome(v, token)) !== 'ok') throw new Error('a fresh token was refused')
    const start = performance.now()
    await fetch(`${broker.base}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization }, body: new URLSearchParams({ token }) })
    const pending = new Set(verifiers)
    while (pending.size > 0) {
      for (const v of [...pending]) if ((await outcome(v, token)) === 'token_revoked') pending.delete(v)
      if (performance.now() - start > 5000) throw new Error('a verifier still accepts a revoked token after 5 s')
      if (pending.size > 0) await new Promise((r) => setImmediate(r))
    }
    if (i >= 20) samples.push(performance.now() - start)
  }
  await Promise.all(verifiers.map((v) => v.close()))
  samples.sort((a, b) => a - b)
  return { verifiers: VERIFIERS, revocations: samples.length,
    allRejectingMs: { p50: round(percentile(samples, 50)), p99: round(percentile(samples, 99)), max: round(samples.at(-1)) } }
}

const broker = await startBenchBroker({ redisUrl: REDIS_URL, name: 'bench-python' })
try {
  const authorization = `Basic ${Buffer.from(`bench-agent:${broker.secret}`).toString('base64')}`
  const js = await jsPropagation(broker, authorization)
  const python = JSON.parse(execFileSync('/usr/bin/python3', [join(root, 'bench/python_propagation.py'), join(root, 'python/src'),
    broker.base, broker.secret, broker.prefix, REDIS_URL, String(REVOCATIONS), String(VERIFIERS)], { encoding: 'utf8' }))
  const result = { at: new Date().toISOString(), js, python }
  console.log(`revocation propagation, POST /oauth/revoke sent -> all ${VERIFIERS} verifiers refuse (${REVOCATIONS} revocations)`)
  console.log(`  JS verifier:     p50 ${js.allRejectingMs.p50} ms  p99 ${js.allRejectingMs.p99} ms  max ${js.allRejectingMs.max} ms`)
  console.log(`  Python verifier: p50 ${python.allRejectingMs.p50} ms  p99 ${python.allRejectingMs.p99} ms  max ${python.allRejectingMs.max} ms`)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/python-verify.json'), `${JSON.stringify(result, null, 2)}\n`)
} finally {
  broker.child.kill('SIGTERM')
  await deletePrefix(REDIS_URL, broker.prefix)
}
