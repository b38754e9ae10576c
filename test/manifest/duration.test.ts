import { describe, expect, it } from 'vitest'
import { WritError } from '../../src/errors.js'
import { MAX_DURATION_SECONDS, parseDuration } from '../../src/manifest/duration.js'

function failure(input: unknown, field = 'ttl'): WritError {
  try {
    parseDuration(input, field)
  } catch (err) {
    if (err instanceof WritError) return err
    throw err
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`)
}

describe('parseDuration', () => {
  it('accepts whole seconds as a number', () => {
    expect(parseDuration(90, 'ttl')).toBe(90)
    expect(parseDuration(1, 'ttl')).toBe(1)
  })

  it('accepts seconds, minutes and hours and their combinations', () => {
    expect(parseDuration('90s', 'ttl')).toBe(90)
    expect(parseDuration('15m', 'ttl')).toBe(900)
    expect(parseDuration('1h', 'ttl')).toBe(3600)
    expect(parseDuration('1h30m', 'ttl')).toBe(5400)
    expect(parseDuration('2m30s', 'ttl')).toBe(150)
    expect(parseDuration('1h1m1s', 'ttl')).toBe(3661)
    expect(parseDuration('90m', 'ttl')).toBe(5400)
  })

  it('accepts a string of digits as seconds (form parameters are strings)', () => {
    expect(parseDuration('900', 'ttl')).toBe(900)
  })

  it('rejects anything else with invalid_request naming the field', () => {
    for (const bad of ['', ' 15m', '15m ', '15M', '1d', '1.5h', '-5m', '30m1h', '1h 30m', 'm', 'h1', '15mm', 0, -5, 1.5, NaN, Infinity, null, true, {}, [], '0s', '0', '0h0m']) {
      const err = failure(bad)
      expect(err.code, JSON.stringify(bad)).toBe('invalid_request')
      expect(err.status).toBe(400)
      expect(err.message, JSON.stringify(bad)).toBe('ttl: expected a duration like 90s, 15m or 1h')
    }
    expect(failure('soon', 'rules[0].max_ttl').message).toBe('rules[0].max_ttl: expected a duration like 90s, 15m or 1h')
  })

  it('caps durations at 24h and names the limit', () => {
    expect(parseDuration('24h', 'ttl')).toBe(MAX_DURATION_SECONDS)
    expect(parseDuration(86_400, 'ttl')).toBe(86_400)
    for (const tooLong of ['25h', '24h1s', 86_401, '1441m', '999999h', '86401']) {
      expect(failure(tooLong).message).toBe('ttl: at most 24h (86400 seconds)')
    }
  })

  it('rejects absurdly long digit runs without doing big arithmetic', () => {
    expect(failure(`${'9'.repeat(5000)}s`).message).toMatch(/expected a duration/)
  })
})
