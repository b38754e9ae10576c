import { describe, expect, it } from 'vitest'
import { ExpiringLru } from '../../src/verifier/expiring-lru.js'

describe('ExpiringLru', () => {
  it('tells of every entry that leaves, however it leaves, except through clear()', () => {
    const removed: string[] = []
    const lru = new ExpiringLru<number>(2, (key, value) => removed.push(`${key}=${value}`))
    lru.set('a', 1, 100)
    lru.set('b', 2, 100)
    lru.set('a', 3, 100) // replaced
    lru.set('c', 4, 100) // evicts b, the least recently used
    expect(lru.get('c', 200)).toBeUndefined() // expired
    lru.delete('a')
    lru.delete('missing')
    lru.set('d', 5, 100)
    lru.clear()
    expect(removed).toEqual(['a=1', 'b=2', 'c=4', 'a=3'])
    expect(lru.size).toBe(0)
  })

  it('keeps the most recently used, and never returns an expired entry', () => {
    const lru = new ExpiringLru<string>(2)
    lru.set('a', 'A', 100)
    lru.set('b', 'B', 100)
    expect(lru.get('a', 50)).toBe('A')
    lru.set('c', 'C', 100)
    expect(lru.get('b', 50)).toBeUndefined()
    expect(lru.get('a', 50)).toBe('A')
    expect(lru.get('a', 100)).toBeUndefined()
  })
})
