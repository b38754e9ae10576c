import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requestToken, WritClientError } from '../../src/client/index.js'
import { docsManifest, ISSUER, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

let broker: TestBroker
const appFetch = ((input: string | URL | Request, init?: RequestInit) =>
  broker.app.request(String(input), init)) as typeof fetch

beforeAll(async () => {
  broker = await makeTestBroker()
})
afterAll(() => broker.close())

const credentials = { clientId: 'agent-a', clientSecret: SECRETS['agent-a'] }

describe('requestToken', () => {
  it('exchanges a manifest for a token (client secret, special characters encoded)', async () => {
    const token = await requestToken({ broker: ISSUER, credentials, manifest: docsManifest(), fetch: appFetch })
    expect(token).toMatchObject({ tokenType: 'Bearer', scope: 'repo:read repo:write', expiresIn: 300 })
    expect(await broker.store.grants.getGrant('agent-a', token.grantId)).toMatchObject({ state: 'live' })
  })

  it('throws a typed error with the broker code when policy denies', async () => {
    const manifest = docsManifest({ grants: [{ type: 'repo', actions: ['delete'], identifier: 'docs/**' }] })
    const err = await requestToken({ broker: ISSUER, credentials, manifest, fetch: appFetch }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WritClientError)
    expect(err).toMatchObject({ code: 'access_denied', status: 403 })
  })

  it('throws invalid_client for a wrong secret', async () => {
    const err = await requestToken({
      broker: ISSUER,
      credentials: { clientId: 'agent-a', clientSecret: 'wrong' },
      manifest: docsManifest(),
      fetch: appFetch,
    }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_client', status: 401 })
  })

  it('reports an unreachable broker as network_error and an aborted call as aborted', async () => {
    const unreachable = await requestToken({ broker: 'http://127.0.0.1:1', credentials, manifest: docsManifest() }).catch(
      (e: unknown) => e,
    )
    expect(unreachable).toMatchObject({ code: 'network_error' })
    const controller = new AbortController()
    controller.abort()
    const aborted = await requestToken({
      broker: 'http://127.0.0.1:1',
      credentials,
      manifest: docsManifest(),
      signal: controller.signal,
    }).catch((e: unknown) => e)
    expect(aborted).toMatchObject({ code: 'aborted' })
  })

  it('refuses a non-JSON answer as unexpected_response', async () => {
    const html = (async () => new Response('<html>proxy error</html>', { status: 502 })) as unknown as typeof fetch
    const err = await requestToken({ broker: ISSUER, credentials, manifest: docsManifest(), fetch: html }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'unexpected_response', status: 502 })
  })
})

describe('requestToken with private_key_jwt (RFC 7523, via CIBA)', () => {
  it('gets a token for an auto-approvable manifest without reporting a wait', async () => {
    const { clientKey } = await import('../helpers/broker.js')
    const { privateKey } = await clientKey()
    let pendings = 0
    const token = await requestToken({
      broker: ISSUER,
      credentials: { clientId: 'agent-jwt', privateKey, keyId: 'agent-jwt-1' },
      manifest: docsManifest({ grants: docsManifest().grants.slice(0, 1) }),
      onPending: () => pendings++,
      fetch: appFetch,
    })
    expect(token).toMatchObject({ tokenType: 'Bearer', scope: 'repo:read' })
    expect(pendings).toBe(0)
  })

  it('binds a private_key_jwt client\'s token to its DPoP key: the nonce retry carries a fresh assertion', async () => {
    const { clientKey } = await import('../helpers/broker.js')
    const { privateKey } = await clientKey()
    const dpopKey = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
    // The broker requires DPoP nonces (the default): every first proof is answered use_dpop_nonce,
    // and a retry with the same, already consumed, client assertion would be refused.
    const token = await requestToken({
      broker: ISSUER,
      credentials: { clientId: 'agent-jwt', privateKey, keyId: 'agent-jwt-1' },
      manifest: docsManifest({ grants: docsManifest().grants.slice(0, 1) }),
      dpopKey,
      fetch: appFetch,
    })
    expect(token).toMatchObject({ tokenType: 'DPoP', scope: 'repo:read' })
  })
})
