import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { dpopNonceSecret } from '../../src/dpop/dpop-nonce-secret.js'
import { createDpopNonces } from '../../src/verifier/dpop-nonces.js'
import { ReplayCache } from '../../src/verifier/replay-cache.js'

describe('stateless DPoP nonces (RFC 9449 §8)', () => {
  it('are accepted by any server holding the secret, within their lifetime only', () => {
    const clock = manualClock()
    const secret = randomBytes(32)
    const one = createDpopNonces({ secret, lifetimeSeconds: 300, clock })
    const two = createDpopNonces({ secret, lifetimeSeconds: 300, clock })
    const nonce = one.issue()
    expect(two.check(nonce)).toBe(true)
    clock.advance(300_000)
    expect(two.check(nonce)).toBe(true)
    clock.advance(1_000)
    expect(two.check(nonce)).toBe(false)
    expect(two.check(two.issue())).toBe(true)
  })

  it('refuses nonces made with another secret, tampered, from the far future, or malformed', () => {
    const clock = manualClock()
    const mine = createDpopNonces({ secret: randomBytes(32), clock })
    const theirs = createDpopNonces({ secret: randomBytes(32), clock })
    expect(mine.check(theirs.issue())).toBe(false)
    const [time, mac] = mine.issue().split('.') as [string, string]
    const later = (parseInt(time, 36) + 60).toString(36)
    expect(mine.check(`${later}.${mac}`)).toBe(false)
    const shared = randomBytes(32)
    const ahead = createDpopNonces({ secret: shared, clock: () => clock() + 3_600_000 })
    expect(createDpopNonces({ secret: shared, clock }).check(ahead.issue())).toBe(false)
    for (const bad of ['', 'x', `${time}.`, `${time}.${mac}x`, `${time}.${mac}.${mac}`, '🙂.🙂']) {
      expect(mine.check(bad)).toBe(false)
    }
  })

  it('refuse a secret shorter than 32 bytes', () => {
    expect(() => createDpopNonces({ secret: randomBytes(16), clock: Date.now })).toThrow(/32 bytes/)
  })

  it('share one key between replicas: from dpop.nonceSecret, else derived from the KEK', () => {
    const kek = randomBytes(32).toString('base64')
    const a = dpopNonceSecret({ kek })
    expect(a.shared).toBe(true)
    expect(Buffer.from(dpopNonceSecret({ kek }).secret).equals(Buffer.from(a.secret))).toBe(true)
    // Derived, not the KEK itself: the encryption key never doubles as a MAC key.
    expect(Buffer.from(a.secret).equals(Buffer.from(kek, 'base64'))).toBe(false)
    const own = randomBytes(32).toString('base64')
    expect(Buffer.from(dpopNonceSecret({ nonceSecret: own, kek }).secret).equals(Buffer.from(a.secret))).toBe(false)
    const alone = dpopNonceSecret({})
    expect(alone.shared).toBe(false)
    expect(Buffer.from(dpopNonceSecret({}).secret).equals(Buffer.from(alone.secret))).toBe(false)
  })
})

describe('the DPoP proof replay cache', () => {
  it('takes a value once per window, then forgets it', () => {
    const cache = new ReplayCache(10, 1000)
    expect(cache.take('k', 'a', 0)).toBe('taken')
    expect(cache.take('k', 'a', 999)).toBe('replayed')
    expect(cache.take('k', 'a', 1000)).toBe('taken')
  })

  it('refuses new values rather than forgetting unexpired ones when full', () => {
    const cache = new ReplayCache(2, 1000)
    expect(cache.take('k', 'a', 0)).toBe('taken')
    expect(cache.take('k', 'b', 10)).toBe('taken')
    expect(cache.take('k', 'c', 20)).toBe('full')
    expect(cache.take('k', 'a', 30)).toBe('replayed')
    expect(cache.take('k', 'c', 1000)).toBe('taken')
    expect(cache.size).toBe(2)
  })

  it('budgets each owner: one owner at its budget is refused, others are not', () => {
    const cache = new ReplayCache(10, 1000, 2)
    expect(cache.take('k1', 'a', 0)).toBe('taken')
    expect(cache.take('k1', 'b', 0)).toBe('taken')
    expect(cache.take('k1', 'c', 0)).toBe('full')
    expect(cache.take('k2', 'a', 0)).toBe('taken')
    expect(cache.take('k2', 'c', 0)).toBe('taken')
    expect(cache.heldBy('k1')).toBe(2)
    // Once its own values age out, the owner's budget is back.
    expect(cache.take('k1', 'c', 1000)).toBe('taken')
    expect(cache.heldBy('k1')).toBe(1)
    expect(cache.heldBy('k2')).toBe(0)
  })
})
