// One verifier of bench/delegation.js's subtree revocation, in a worker thread of its own (its own
// event loop and heap, as each service is its own process): it holds a tree's members as confirmed
// live, watches its cache of confirmed-live grants while the tree is revoked, and reports when each
// member left it (process.hrtime, the same clock in every thread of the process).
import { parentPort, workerData } from 'node:worker_threads'
import { createVerifier } from '../dist/verifier/index.js'

const { issuer, audience, redisUrl, keyPrefix } = workerData
const verifier = createVerifier({
  issuer,
  audience,
  jwksUri: `${issuer}/.well-known/jwks.json`,
  liveness: { mode: 'redis', redis: redisUrl, keyPrefix, cacheSize: 20_000, cacheTtlSeconds: 600 },
})
const nowMs = () => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function outcome(token) {
  try {
    await verifier.verify(token)
    return 'ok'
  } catch (err) {
    return err.code ?? 'error'
  }
}

async function subscribed() {
  const deadline = Date.now() + 10_000
  while (!verifier.status().subscribed) {
    if (Date.now() > deadline) throw new Error('the verifier did not subscribe')
    await sleep(20)
  }
}

/** How many grants the cache held when the watch was armed, before the revocation was sent. */
let held = 0

/** Polls the cache (1 ms timer: up to a millisecond late, never early) until `count` members left. */
async function watch(count) {
  const dropped = []
  const giveUp = nowMs() + 60_000
  while (dropped.length < count) {
    const status = verifier.status()
    if (!status.subscribed) throw new Error('the verifier lost its subscription: the cache no longer tells revocations')
    const now = nowMs()
    const gone = Math.min(held - status.cachedGrants, count)
    while (dropped.length < gone) dropped.push(now)
    if (now > giveUp) throw new Error('members still held 60 s after the revocation')
    await sleep(1)
  }
  return dropped
}

const handlers = {
  ready: async () => subscribed(),
  // Every member confirmed live: from then on only a revocation message can drop it.
  hold: async ({ members }) => {
    for (const token of members) if ((await outcome(token)) !== 'ok') throw new Error('a live member was refused')
  },
  arm: async () => {
    held = verifier.status().cachedGrants
  },
  watch: async ({ count }) => watch(count),
  // After the clock stopped: every member is refused.
  refused: async ({ members }) => {
    for (const token of members) if ((await outcome(token)) !== 'token_revoked') throw new Error('a revoked member was not refused')
  },
  close: async () => verifier.close(),
}

parentPort.on('message', async ({ id, type, ...args }) => {
  try {
    parentPort.postMessage({ id, result: await handlers[type](args) })
  } catch (err) {
    parentPort.postMessage({ id, error: String(err?.stack ?? err) })
  }
})
