// One verifier of bench/delegation.js's subtree revocation, in a worker thread of its own (its own
// event loop and heap, as each service is its own process): it holds a tree's members as confirmed
// live, watches its cache of confirmed-live grants while the tree is revoked, and reports when each
// member left it (process.hrtime, the same clock in every thread of the process).
import { parentPort, workerData } from 'node:worker_threads'
import { Redis } from 'ioredis'
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
/** The armed watch: resolves with the times the members were seen gone. */
let armed

// A second subscription to the revocation channel wakes the watch when a message arrives, so the
// thread sleeps until then instead of polling (ten threads polling every millisecond would take
// the cores from the broker and Redis being timed). The verifier reads the same message on its own
// connection; a look right after this one's message, then every millisecond, sees the drop.
const wakeUp = new Redis(redisUrl)
let onRevocationMessage = () => {}
wakeUp.on('message', () => onRevocationMessage())
await wakeUp.subscribe(`${keyPrefix}revocations`)

/** Waits until `count` members left the cache; the time each was seen gone (never early). */
function watch(count) {
  const dropped = []
  return new Promise((resolve, reject) => {
    let timer
    const giveUp = setTimeout(() => finish(new Error('members still held 60 s after the revocation')), 60_000)
    const finish = (err) => {
      clearTimeout(giveUp)
      clearTimeout(timer)
      onRevocationMessage = () => {}
      if (err) reject(err)
      else resolve(dropped)
    }
    const look = () => {
      const status = verifier.status()
      if (!status.subscribed) return finish(new Error('the verifier lost its subscription: the cache no longer tells revocations'))
      const now = nowMs()
      const gone = Math.min(held - status.cachedGrants, count)
      while (dropped.length < gone) dropped.push(now)
      if (dropped.length >= count) return finish()
      // Not all gone yet: the verifier's own connection may not have been read; look again.
      clearTimeout(timer)
      timer = setTimeout(look, 1)
    }
    onRevocationMessage = () => setImmediate(look)
  })
}

const handlers = {
  ready: async () => subscribed(),
  // Every member confirmed live: from then on only a revocation message can drop it.
  hold: async ({ members }) => {
    for (const token of members) if ((await outcome(token)) !== 'ok') throw new Error('a live member was refused')
  },
  // Armed before the revocation is sent: the watch is listening when its message comes.
  arm: async ({ count }) => {
    held = verifier.status().cachedGrants
    armed = watch(count)
    armed.catch(() => undefined)
  },
  watch: async () => armed,
  // After the clock stopped: every member is refused.
  refused: async ({ members }) => {
    for (const token of members) if ((await outcome(token)) !== 'token_revoked') throw new Error('a revoked member was not refused')
  },
  close: async () => {
    wakeUp.disconnect()
    await verifier.close()
  },
}

parentPort.on('message', async ({ id, type, ...args }) => {
  try {
    parentPort.postMessage({ id, result: await handlers[type](args) })
  } catch (err) {
    parentPort.postMessage({ id, error: String(err?.stack ?? err) })
  }
})
