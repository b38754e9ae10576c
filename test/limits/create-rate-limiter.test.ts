import { describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { createRateLimiter } from '../../src/limits/index.js'

describe('createRateLimiter', () => {
  it('allows the burst, then refills at the rate, never above the burst', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ burst: 2, perSecond: 4, maxKeys: 10, clock })
    expect(limiter.take('a')).toEqual({ allowed: true })
    expect(limiter.take('a')).toEqual({ allowed: true })
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 })
    clock.advance(250)
    expect(limiter.take('a').allowed).toBe(true)
    expect(limiter.take('a').allowed).toBe(false)
    clock.advance(60_000)
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')].map((d) => d.allowed)).toEqual([true, true, false])
  })

  it('takes a refund back, never above the burst', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ burst: 2, perSecond: 1 / 60, maxKeys: 10, clock })
    limiter.refund('a')
    expect(limiter.take('a').allowed).toBe(true)
    limiter.refund('a')
    limiter.refund('a')
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')].map((d) => d.allowed)).toEqual([true, true, false])
    limiter.refund('a')
    expect(limiter.take('a').allowed).toBe(true)
  })

  it('says how long to wait at slow rates', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ burst: 1, perSecond: 1 / 60, maxKeys: 10, clock })
    limiter.take('a')
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 60 })
  })

  it('keeps keys apart, and a clock going backwards earns nothing', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ burst: 1, perSecond: 1, maxKeys: 10, clock })
    expect(limiter.take('a').allowed).toBe(true)
    expect(limiter.take('b').allowed).toBe(true)
    clock.advance(-10_000)
    expect(limiter.take('a').allowed).toBe(false)
  })

  it('tracks at most maxKeys keys, forgetting the least recently used', () => {
    const clock = manualClock()
    const limiter = createRateLimiter({ burst: 1, perSecond: 1, maxKeys: 2, clock })
    limiter.take('a')
    limiter.take('b')
    limiter.take('a')
    limiter.take('c')
    expect(limiter.size).toBe(2)
    // b was forgotten (a full bucket again); a is still empty.
    expect(limiter.take('b').allowed).toBe(true)
    expect(limiter.take('c').allowed).toBe(false)
  })

  it('refuses nonsense options', () => {
    const clock = manualClock()
    expect(() => createRateLimiter({ burst: 0, perSecond: 1, maxKeys: 1, clock })).toThrow(RangeError)
    expect(() => createRateLimiter({ burst: 1, perSecond: Number.NaN, maxKeys: 1, clock })).toThrow(RangeError)
  })
})
