import { afterEach, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/clock.js'
import { createMemoryStore } from '../../src/open-store.js'
import { docsManifest, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

/**
 * A grant's life counts from the second it was decided in, so a one-second ttl asked late in a
 * second (or any short ttl on a broker slowed down between deciding and recording) can run out
 * before the grant is recorded. The store records no expired grant; the client gets a retryable
 * 503 naming why, never a server error, and nothing is left behind.
 */
let broker: TestBroker | undefined
afterEach(async () => {
  await broker?.close()
  broker = undefined
})

describe('a grant whose life runs out before it is recorded', () => {
  it('is refused with a retryable 503, and nothing is recorded', async () => {
    const clock = manualClock(Date.now())
    const store = createMemoryStore({ clock })
    // The broker is slowed down between deciding the grant and recording it.
    const createGrant = store.grants.createGrant.bind(store.grants)
    store.grants.createGrant = async (grant, options) => {
      clock.advance(1500)
      return createGrant(grant, options)
    }
    broker = await makeTestBroker({ store })
    // The test broker runs on its own clock; the store's is the one that moves on.
    broker.clock.set(clock())
    const manifest = docsManifest({ ttl: '1s', grants: docsManifest().grants.slice(0, 1) })
    const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic: ['agent-b', SECRETS['agent-b']] })
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    const body = (await res.json()) as { error: string; error_description: string; access_token?: string }
    expect(body.error).toBe('temporarily_unavailable')
    expect(body.error_description).toMatch(/life \(1 s\) ran out before it could be recorded/)
    expect(body.access_token).toBeUndefined()
    expect(await store.grants.listGrants({ clientId: 'agent-b' })).toEqual([])
  })
})
