// Scaling curve: issuance over HTTP while one client holds N live grants on Redis, and Redis memory
// per live grant. The grants are written through the built store (`createGrant` of dist/, many in
// flight at once, auto-pipelined), not over HTTP; going down again (the second pass) deletes the
// fill's keys as their expiry would.
import Redis from 'ioredis'
import { createRedisStore } from '../dist/open-store.js'
import { BROKER_CONFIG, grant, httpRate, issuanceRequest, rateRows, twoPasses } from './curves-measure.js'
import { deletePrefix, startBenchBroker } from './lib.js'

const CLIENT = 'bench-agent'
/**
 * Life (s) of the tokens a point issues: they leave the client's live set 3 s later (every grant
 * creation prunes expired index entries), so a point holds its N grants plus at most 3 s of
 * issuance (`liveAtEnd` in the rows), instead of everything issued so far. Not 1 s: the broker
 * counts a grant's life from the start of the current second, and a grant whose life runs out
 * before it is recorded is refused (a 503), which a 1 s ttl under load would measure.
 */
const ISSUED_TTL = 3
/** Grants in flight at once while filling. */
const FILL_BATCH = 2000
/** Tasks the filled grants are spread over, as many agents' grants would be. */
const FILL_TASKS = 100
/** The most live grants the policy lets a client hold (the schema's cap on max_live_grants). */
export const QUOTA_CAP = 1_000_000

const fillId = (i) => `fill-${i.toString(36).padStart(4, '0')}`

const tokenGrantId = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti

/**
 * The curve over `points` (live grants held), the largest at most {@link QUOTA_CAP} less the
 * headroom for a point's own issuance; and Redis `used_memory` per live grant over the fill to the
 * largest point.
 */
export async function liveGrantsCurve({ redisUrl, points, duration, warmup }) {
  const broker = await startBenchBroker({ redisUrl, name: 'curves-live', config: BROKER_CONFIG })
  const store = createRedisStore({ url: redisUrl, keyPrefix: broker.prefix, clock: Date.now, commandTimeoutMs: 30_000 })
  const admin = new Redis(redisUrl)
  const keys = store.backend.keys
  const request = issuanceRequest(broker.base, { secret: broker.secret, ttl: ISSUED_TTL })
  const nowSeconds = Math.floor(Date.now() / 1000)
  const largest = Math.max(...points)
  let filled = 0
  let memory
  let fillSeconds = 0

  const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))[1])

  const fillTo = async (n) => {
    const started = performance.now()
    while (filled < n) {
      const batch = []
      for (const end = Math.min(filled + FILL_BATCH, n); filled < end; filled++) {
        batch.push(
          store.grants.createGrant({
            id: fillId(filled),
            clientId: CLIENT,
            task: { id: `BENCH-FILL-${filled % FILL_TASKS}` },
            manifestSha256: 'ab'.repeat(32),
            authorizationDetails: [grant()],
            ruleIds: ['docs-read'],
            issuedAt: nowSeconds,
            // Live for the whole run: only the second pass takes them away again.
            expiresAt: nowSeconds + 4 * 3600,
            claimsSha256: 'c'.repeat(43),
          }),
        )
      }
      await Promise.all(batch)
    }
    fillSeconds += (performance.now() - started) / 1000
  }

  const trimTo = async (n) => {
    while (filled > n) {
      const pipeline = admin.pipeline()
      for (const end = Math.max(filled - 5000, n); filled > end; ) {
        filled--
        const id = fillId(filled)
        pipeline.unlink(keys.grant(CLIENT, id), keys.grantPointer(id))
        pipeline.zrem(keys.live(CLIENT), id)
        pipeline.zrem(keys.task(CLIENT, `BENCH-FILL-${filled % FILL_TASKS}`), id)
      }
      await pipeline.exec()
    }
  }

  try {
    // A filled grant's record must be what the broker records for an issued one: compare sizes.
    const issued = await (await fetch(request.url, request)).json()
    const issuedRecord = await admin.strlen(keys.grant(CLIENT, tokenGrantId(issued.access_token)))
    // One broker serves every point: warm it once more before the first, so that point (the one
    // the others are read against) is not the only one measured on code still being optimised.
    await httpRate(request, { duration: 1, warmup, what: 'warming the broker' })
    const rows = await twoPasses(points, async (n, pass) => {
      if (pass === 0) {
        const before = { grants: filled, bytes: await usedMemory() }
        await fillTo(n)
        if (n === largest) {
          const grants = filled - before.grants
          memory = { grants, bytesPerGrant: Math.round(((await usedMemory()) - before.bytes) / grants) }
        }
      } else {
        await trimTo(n)
      }
      const perSecond = await httpRate(request, { duration, warmup, what: `${n} live grants` })
      return { perSecond, liveAtEnd: await admin.zcard(keys.live(CLIENT)) }
    })
    const filledRecord = await admin.strlen(keys.grant(CLIENT, fillId(0)))
    return {
      rows: rateRows(rows.map((r) => ({ ...r, perSecond: Math.round(r.perSecond), liveAtEnd: Math.round(r.liveAtEnd) }))),
      redisMemory: {
        ...memory,
        recordBytes: { filled: filledRecord, issued: issuedRecord },
        what: 'Redis used_memory growth over the fill to the largest point, per grant: its record, its id pointer and its entries in the client\'s live index and its task\'s index',
      },
      fillGrantsPerSecond: Math.round(largest / fillSeconds),
      issuedTtlSeconds: ISSUED_TTL,
    }
  } finally {
    broker.child.kill('SIGTERM')
    await store.close()
    await admin.quit()
    await deletePrefix(redisUrl, broker.prefix)
  }
}
