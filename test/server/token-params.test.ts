import { describe, expect, it } from 'vitest'
import { WritError } from '../../src/errors.js'
import { AuthorizationDetailsCache, manifestFromTokenParams } from '../../src/server/token-params.js'

const details = JSON.stringify([{ type: 'repo', actions: ['read'], identifier: 'docs/**' }])

describe('AuthorizationDetailsCache', () => {
  it('returns the same validated, frozen grants for the same text', () => {
    const cache = new AuthorizationDetailsCache()
    const a = cache.parse(details, 50)
    expect(cache.parse(details, 50)).toBe(a)
    expect(Object.isFrozen(a) && Object.isFrozen(a[0]) && Object.isFrozen(a[0]!.actions)).toBe(true)
    expect(() => (a[0]!.actions as string[]).push('write')).toThrow(TypeError)
  })

  it('never remembers invalid input, and keys on the grant limit', () => {
    const cache = new AuthorizationDetailsCache()
    const bad = '[{"type":"repo","actions":"read"}]'
    for (let i = 0; i < 2; i++) expect(() => cache.parse(bad, 50)).toThrow(WritError)
    const two = JSON.stringify([{ type: 'a', actions: ['x'] }, { type: 'b', actions: ['y'] }])
    expect(cache.parse(two, 50)).toHaveLength(2)
    expect(() => cache.parse(two, 1)).toThrow(/at most 1/)
  })

  it('stays within its bound', () => {
    const cache = new AuthorizationDetailsCache(3)
    const first = cache.parse(JSON.stringify([{ type: 't0', actions: ['a'] }]), 50)
    for (let i = 1; i < 5; i++) cache.parse(JSON.stringify([{ type: `t${i}`, actions: ['a'] }]), 50)
    expect(cache.parse(JSON.stringify([{ type: 't0', actions: ['a'] }]), 50)).not.toBe(first)
  })
})

describe('manifestFromTokenParams', () => {
  it('names form fields, not manifest paths, in errors', () => {
    const cache = new AuthorizationDetailsCache()
    const call = (extra: Record<string, string>) => () =>
      manifestFromTokenParams({ task_id: 'T', authorization_details: details, ...extra }, 50, cache)
    expect(call({ task_id: 'x'.repeat(200) })).toThrow(/^task_id:/)
    expect(call({ task_purpose: 'p'.repeat(2000) })).toThrow(/^task_purpose:/)
    expect(call({ ttl: '3 days' })).toThrow(/^ttl:/)
    expect(call({ ttl: '900' })()).toMatchObject({ task: { id: 'T' }, ttlSeconds: 900 })
  })
})
