import { describe, expect, it } from 'vitest'
import { isoTime } from '../../src/audit/iso-time.js'

describe('isoTime', () => {
  it('writes what Date.prototype.toISOString writes, across seconds, with or without fractions', () => {
    let now = 0
    const iso = isoTime(() => now)
    const samples = [
      Date.UTC(2026, 11, 1, 23, 59, 59, 999), Date.UTC(2026, 11, 2), Date.UTC(2026, 11, 2, 0, 0, 0, 7),
      Date.UTC(2026, 11, 2, 0, 0, 0, 42), Date.UTC(2026, 11, 2, 0, 0, 0, 42.9), Date.UTC(2026, 11, 2, 0, 0, 1, 100),
      0, -1, -1.5, -1000, 8.64e15, Date.UTC(2026, 11, 2, 0, 0, 0, 42),
    ]
    for (const ms of samples) {
      now = ms
      expect(iso(), String(ms)).toBe(new Date(ms).toISOString())
    }
  })
})
