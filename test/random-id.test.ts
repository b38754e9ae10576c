import { describe, expect, it } from 'vitest'
import { randomId } from '../src/random-id.js'

describe('randomId', () => {
  it('returns 128-bit base64url ids that do not repeat across pool refills, never starting with -', () => {
    const ids = new Set<string>()
    for (let i = 0; i < 5000; i++) ids.add(randomId())
    expect(ids.size).toBe(5000)
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
      expect(Buffer.from(id, 'base64url')).toHaveLength(16)
      expect(id.startsWith('-')).toBe(false)
    }
  })
})
