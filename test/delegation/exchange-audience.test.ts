import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { APP, claimsOf, makeDelegationBroker, oauthClient } from './helpers.js'

let broker: TestBroker
beforeAll(async () => {
  broker = await makeDelegationBroker()
})
afterAll(async () => {
  await broker.close()
})

const OTHER = 'https://git.example.com/acme/other'
const both = [{ type: 'repo', actions: ['read'], locations: [APP, OTHER], identifier: 'docs/**' }]
const only = (location: string) => [{ type: 'repo', actions: ['read'], locations: [location], identifier: 'docs/**' }]

/** A parent whose RFC 8707 `resource` narrowed its audience to APP, though its grant names two. */
const narrowedParent = async () => {
  const issued = await oauthClient(broker, 'planner').issue(both, { resource: APP })
  expect(claimsOf(issued.access_token).aud).toBe(APP)
  return issued.access_token
}

describe('token exchange keeps the audience a resource indicator narrowed the parent to', () => {
  it('refuses a child for a location the parent token was not issued for (invalid_target), recording nothing', async () => {
    const subject = await narrowedParent()
    const refusal = await oauthClient(broker, 'worker').refused(subject, { authorization_details: JSON.stringify(only(OTHER)) })
    expect(refusal).toMatchObject({ status: 400, error: 'invalid_target' })
    expect(refusal.description).toMatch(/https:\/\/git\.example\.com\/acme\/other/)
    expect(await broker.store.grants.listGrants({ clientId: 'worker' })).toEqual([])
  })

  it('gives a child holding the parent\'s grants only the parent\'s audience', async () => {
    const subject = await narrowedParent()
    const child = await oauthClient(broker, 'worker').exchange(subject, { authorization_details: JSON.stringify(both) })
    expect(claimsOf(child.access_token).aud).toBe(APP)
  })

  it('leaves a parent without resource indicators as before: the child follows its own locations', async () => {
    const parent = await oauthClient(broker, 'planner').issue(both)
    expect(claimsOf(parent.access_token).aud).toEqual([APP, OTHER])
    const child = await oauthClient(broker, 'worker').exchange(parent.access_token, { authorization_details: JSON.stringify(only(OTHER)) })
    expect(claimsOf(child.access_token).aud).toBe(OTHER)
  })
})

describe('token exchange under a lock on a client higher up the chain', () => {
  it('refuses a hand-over of a token whose chain started at a locked client (writ lock --no-revoke), recording nothing', async () => {
    const read = JSON.stringify(only(APP))
    const root = await oauthClient(broker, 'planner').issue(both)
    const child = await oauthClient(broker, 'worker').exchange(root.access_token, { authorization_details: read })
    const lockId = 'lock-planner-chain'
    await broker.store.locks.putLock({ id: lockId, target: { kind: 'client', id: 'planner' }, reason: 'incident', by: 'admin', createdAt: Math.floor(broker.clock() / 1000) })
    try {
      const before = await broker.store.grants.listGrants({ clientId: 'sub' })
      const res = await oauthClient(broker, 'sub').exchangeResponse(child.access_token, { authorization_details: read })
      expect(res.status).toBe(403)
      expect(await res.json()).toMatchObject({ error: 'access_denied' })
      expect(await broker.store.grants.listGrants({ clientId: 'sub' })).toEqual(before)
    } finally {
      await broker.store.locks.removeLock(lockId)
    }
  })
})
