import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeJwt, generateKeyPair } from 'jose'
import { dpopThumbprint, exchangeToken, requestToken, WritClientError } from '../../src/client/index.js'
import { ISSUER, type TestBroker } from '../helpers/broker.js'
import { details, makeDelegationBroker, secretOf } from '../delegation/helpers.js'

let broker: TestBroker
const appFetch = ((input: string | URL | Request, init?: RequestInit) =>
  broker.app.request(String(input), init)) as typeof fetch

beforeAll(async () => {
  // Server nonces required (the default): the client must retry with the nonce, for both proofs.
  broker = await makeDelegationBroker({ config: { dpop: { requireNonce: true } } })
})
afterAll(() => broker.close())

const credentials = (client: string) => ({ clientId: client, clientSecret: secretOf(client) })
const manifest = { task: { id: 'JIRA-4711' }, ttl: '10m', grants: details(['read'], 'docs/**') }

describe('exchangeToken (writ/client)', () => {
  it('hands a DPoP-bound parent down as a narrower token bound to the receiver\'s own key', async () => {
    const plannerKey = await generateKeyPair('ES256')
    const workerKey = await generateKeyPair('ES256')
    const parent = await requestToken({ broker: ISSUER, credentials: credentials('planner'), manifest, dpopKey: plannerKey, fetch: appFetch })
    expect(parent.tokenType).toBe('DPoP')
    const child = await exchangeToken({
      broker: ISSUER,
      credentials: credentials('worker'),
      subjectToken: parent.accessToken,
      grants: details(['read'], 'docs/guide/*'),
      ttl: '2m',
      subjectDpopKey: plannerKey,
      dpopKey: workerKey,
      fetch: appFetch,
    })
    expect(child).toMatchObject({ tokenType: 'DPoP', expiresIn: 120, parentGrantId: parent.grantId })
    const claims = decodeJwt(child.accessToken)
    expect(claims).toMatchObject({ client_id: 'worker', sub: 'planner', act: { sub: 'worker' }, cnf: { jkt: await dpopThumbprint(workerKey) } })
    expect(await broker.store.grants.getGrant('worker', child.grantId)).toMatchObject({ state: 'live' })
  })

  it('retries with the server nonce when only the parent\'s proof is sent (a bearer child)', async () => {
    const plannerKey = await generateKeyPair('ES256')
    const parent = await requestToken({ broker: ISSUER, credentials: credentials('planner'), manifest, dpopKey: plannerKey, fetch: appFetch })
    const statuses: number[] = []
    const counting = (async (input: string | URL | Request, init?: RequestInit) => {
      const res = await appFetch(input, init)
      statuses.push(res.status)
      return res
    }) as typeof fetch
    const child = await exchangeToken({
      broker: ISSUER,
      credentials: credentials('worker'),
      subjectToken: parent.accessToken,
      grants: details(['read'], 'docs/guide/*'),
      subjectDpopKey: plannerKey,
      fetch: counting,
    })
    // The first proof lacks the nonce: refused with use_dpop_nonce and a DPoP-Nonce, then made again.
    expect(statuses).toEqual([400, 200])
    expect(child).toMatchObject({ tokenType: 'Bearer', parentGrantId: parent.grantId })
    expect(decodeJwt(child.accessToken).cnf).toBeUndefined()
  })

  it('throws the broker\'s error code when the parent does not cover the request', async () => {
    const parent = await requestToken({ broker: ISSUER, credentials: credentials('planner'), manifest, fetch: appFetch })
    const err = await exchangeToken({
      broker: ISSUER,
      credentials: credentials('worker'),
      subjectToken: parent.accessToken,
      grants: details(['write'], 'docs/**'),
      fetch: appFetch,
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WritClientError)
    expect(err).toMatchObject({ code: 'invalid_authorization_details', status: 400 })
  })
})
