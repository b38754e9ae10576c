import { afterEach, describe, expect, it, vi } from 'vitest'
import type { AuditBackend, ChainStep, HeadState } from '../../src/audit/audit-backend.js'
import { createChainer, type Chainer } from '../../src/audit/audit-chainer.js'
import { chainHash } from '../../src/audit/hash-audit-event.js'
import { GENESIS_HASH } from '../../src/audit/types.js'
import { manualClock } from '../../src/clock.js'
import { testKeys } from './helpers.js'

/** A promise and the function that resolves it. */
function opening(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

/**
 * A backend holding only what the chainer uses, whose chain writes wait for `release()`: the
 * steps it was asked to write show how events were batched.
 */
function gatedBackend() {
  let head: HeadState = { seq: 0, hash: GENESIS_HASH, checkpointSeq: 0, coveredSeq: 0, checkpointTimeMs: 0 }
  const steps: ChainStep[] = []
  let gate = opening()
  const unused = (): never => {
    throw new Error('not used by the chainer')
  }
  const backend: AuditBackend = {
    kind: 'memory',
    intake: unused,
    lastSeq: unused,
    find: unused,
    trimBefore: unused,
    readHashes: unused,
    readBodies: unused,
    loadHead: () => Promise.resolve(head),
    async chain(step) {
      steps.push(step)
      await gate.promise
      if (head.seq !== step.expectedSeq) return { head }
      head = step.next
      return { checkpointSeq: null }
    },
  }
  return {
    backend,
    steps,
    release() {
      gate.resolve()
      gate = opening()
    },
  }
}

describe('audit chainer batching', () => {
  const chainers: Chainer[] = []
  afterEach(() => {
    for (const c of chainers.splice(0)) c.stop()
  })

  it('chains a full batch at once, and counts events taken in meanwhile toward the next batch only', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1))
    const { backend, steps, release } = gatedBackend()
    const chainer = createChainer(backend, {
      clock,
      issuer: 'https://writ.test',
      signer: await testKeys(clock),
      everyEvents: 1000,
      everyMs: 3_600_000,
      delayMs: 10_000,
      batchMax: 2,
    })
    chainers.push(chainer)
    const body = (seq: number) => `{"n":${seq}}`
    chainer.taken(1, body(1), [])
    chainer.taken(2, body(2), [])
    // The full batch goes at once; its write is held open.
    await vi.waitFor(() => expect(steps).toHaveLength(1), { timeout: 2000, interval: 5 })
    // One event while it is written: not a full batch of its own, so it waits for more (or for the
    // delay), instead of a one-event write right behind the first.
    chainer.taken(3, body(3), [])
    release()
    await new Promise((r) => setTimeout(r, 100))
    expect(steps).toHaveLength(1)
    // A second one fills the next batch: both go in one write, hashed on from the first batch.
    chainer.taken(4, body(4), [])
    await vi.waitFor(() => expect(steps).toHaveLength(2), { timeout: 2000, interval: 5 })
    release()
    const [first, second] = steps
    expect(first).toMatchObject({ expectedSeq: 0, firstSeq: 1 })
    expect(second).toMatchObject({ expectedSeq: 2, firstSeq: 3 })
    const h1 = chainHash(GENESIS_HASH, 1, body(1))
    const h2 = chainHash(h1, 2, body(2))
    const h3 = chainHash(h2, 3, body(3))
    expect(first!.hashes).toEqual([h1, h2])
    expect(second!.hashes).toEqual([h3, chainHash(h3, 4, body(4))])
  })
})
