import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { WritError } from '../../src/errors.js'
import type { Grant } from '../../src/grants/grant.js'
import { ExpiryHeap } from '../../src/grants/expiry-heap.js'
import { createMemoryStore } from '../../src/open-store.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 200)
const START = 1_800_000_000_000

describe('ExpiryHeap', () => {
  it('gives entries back earliest first, whatever the order they came in', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 200 }), (times) => {
        const heap = new ExpiryHeap()
        times.forEach((t, i) => heap.push(t, `g${i}`))
        const out: number[] = []
        for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
          out.push(top.expiresAtMs)
          heap.pop()
        }
        expect(out).toEqual([...times].sort((a, b) => a - b))
      }),
      { numRuns: RUNS },
    )
  })
})

type Op =
  | { kind: 'create'; life: number }
  | { kind: 'revoke'; pick: number }
  | { kind: 'advance'; ms: number }

/**
 * The embedded store counts a client's live grants and checks ids without walking them (an expiry
 * heap drops expired grants earliest first). Its answers must be exactly those of a model that
 * walks every grant: the live count, the quota refusal and its Retry-After, after any sequence of
 * creations, revocations and the passing of time.
 */
describe('memory store bookkeeping', () => {
  it('counts, refuses over quota and reports the earliest expiry exactly as a walk would', async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), life: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ kind: fc.constant('revoke' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 8000 }) }),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), async (ops, max) => {
        const clock = manualClock(START)
        const store = createMemoryStore({ clock })
        const model = new Map<string, number>() // id → expiresAt (s), every grant not revoked
        let n = 0
        const live = () => [...model.entries()].filter(([, exp]) => exp * 1000 > clock())
        for (const o of ops) {
          if (o.kind === 'advance') clock.set(clock() + o.ms)
          else if (o.kind === 'revoke') {
            const ids = live().map(([id]) => id)
            if (ids.length === 0) continue
            const id = ids[o.pick % ids.length]!
            await store.grants.revokeGrant('c', id, { by: 'test', reason: 'r', at: Math.floor(clock() / 1000) })
            model.delete(id)
          } else {
            const issuedAt = Math.floor(clock() / 1000)
            const grant: Grant = {
              id: `g${n++}`,
              clientId: 'c',
              task: { id: 't' },
              manifestSha256: '00'.repeat(32),
              authorizationDetails: [{ type: 'repo', actions: ['read'] }],
              ruleIds: ['r'],
              issuedAt,
              expiresAt: issuedAt + o.life,
            }
            const alive = live()
            if (alive.length >= max) {
              const earliest = Math.min(...alive.map(([, exp]) => exp * 1000))
              const err = await store.grants.createGrant(grant, { maxLiveGrants: max }).catch((e: unknown) => e)
              expect(err).toBeInstanceOf(WritError)
              expect((err as WritError).code).toBe('quota_exceeded')
              expect((err as WritError).retryAfterSeconds).toBe(Math.max(1, Math.ceil((earliest - clock()) / 1000)))
            } else {
              await store.grants.createGrant(grant, { maxLiveGrants: max })
              model.set(grant.id, grant.expiresAt)
            }
          }
          expect(await store.grants.countLiveGrants('c')).toBe(live().length)
        }
        await store.close()
      }),
      { numRuns: RUNS },
    )
  })
})
