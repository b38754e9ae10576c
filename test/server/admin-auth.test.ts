import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminAuthenticator, createAdminToken } from '../../src/admin/index.js'
import { verifySecret } from '../../src/clients/index.js'
import { manualClock } from '../../src/clock.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import { docsManifest, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

let admin: { token: string; tokenHash: string }
let broker: TestBroker
let disabled: TestBroker

beforeAll(async () => {
  admin = await createAdminToken()
  ;[broker, disabled] = await Promise.all([
    makeTestBroker({ config: { admin: { tokenHash: admin.tokenHash } } }),
    makeTestBroker(),
  ])
})
afterAll(async () => {
  await broker?.close()
  await disabled?.close()
})

const withAuth = (authorization?: string): RequestInit =>
  authorization === undefined ? {} : { headers: { authorization } }

describe('admin bearer token over HTTP', () => {
  it('lets the admin token in, whatever the case of the scheme', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await broker.call('GET', '/admin/grants', withAuth(`${scheme} ${admin.token}`))
      expect(res.status).toBe(200)
    }
  })

  it.each([
    ['no Authorization header', undefined],
    ['an empty header', ''],
    ['a wrong token', 'Bearer wrong-token'],
    ['the token with one character changed', 'flip'],
    ['the token as Basic credentials', 'basic'],
    ['the token without a scheme', 'bare'],
    ['a token with spaces', 'Bearer a b'],
    ['an overlong token', `Bearer ${'a'.repeat(1025)}`],
    ['the argon2 hash itself', 'hash'],
  ])('refuses %s with 401 invalid_token and a Bearer challenge', async (_name, header) => {
    const authorization =
      header === 'flip'
        ? `Bearer ${admin.token.slice(0, -1)}${admin.token.endsWith('A') ? 'B' : 'A'}`
        : header === 'basic'
          ? `Basic ${Buffer.from(`admin:${admin.token}`).toString('base64')}`
          : header === 'bare'
            ? admin.token
            : header === 'hash'
              ? `Bearer ${admin.tokenHash}`
              : header
    for (const [method, path, init] of [
      ['GET', '/admin/grants', {}],
      ['GET', '/admin/grants/some-id', {}],
      ['POST', '/admin/revocations', json({ all: true, reason: 'attack' })],
    ] as const) {
      const res = await broker.call(method, path, {
        ...init,
        headers: { ...(init as RequestInit).headers, ...withAuth(authorization).headers },
      })
      expect(res.status).toBe(401)
      const challenge = res.headers.get('www-authenticate')
      expect(challenge).toMatch(/^Bearer realm="writ", error="invalid_token"/)
      expect((await res.json()).error).toBe('invalid_token')
    }
  })

  it('never revokes anything for a caller without the token', async () => {
    const manifest = docsManifest({ grants: docsManifest().grants.slice(0, 1) })
    const issued = await broker.call('POST', '/v1/tokens', {
      ...json(manifest),
      basic: ['agent-a', SECRETS['agent-a']],
    })
    const { grant_id } = await issued.json()
    const res = await broker.call('POST', '/admin/revocations', {
      ...json({ grant_id, reason: 'attack' }),
      headers: { 'content-type': 'application/json', authorization: 'Bearer guess' },
    })
    expect(res.status).toBe(401)
    expect((await broker.store.getGrant('agent-a', grant_id)).state).toBe('live')
  })

  it('answers unknown paths under /admin only to the admin', async () => {
    const anonymous = await broker.app.request('https://writ.test/admin/no-such-route')
    expect(anonymous.status).toBe(401)
    const known = await broker.app.request(
      'https://writ.test/admin/no-such-route',
      withAuth(`Bearer ${admin.token}`),
    )
    expect(known.status).toBe(404)
  })

  it('keeps the admin API off when no admin token hash is configured', async () => {
    for (const authorization of [undefined, `Bearer ${admin.token}`]) {
      const res = await disabled.call('GET', '/admin/grants', withAuth(authorization))
      expect(res.status).toBe(404)
      const body = await res.json()
      expect(body.error).toBe('not_found')
      expect(body.error_description).toContain('WRIT_ADMIN_TOKEN_HASH')
    }
    const post = await disabled.call('POST', '/admin/revocations', json({ all: true, reason: 'x' }))
    expect(post.status).toBe(404)
  })
})

describe('createAdminAuthenticator', () => {
  const counting = () => {
    const calls: string[] = []
    const verifyToken = (hash: string, token: string) => {
      calls.push(token)
      return verifySecret(hash, token)
    }
    return { calls, verifyToken }
  }

  it('runs argon2 once, then trusts the token until the cache entry expires', async () => {
    const clock = manualClock()
    const { calls, verifyToken } = counting()
    const auth = createAdminAuthenticator({
      tokenHash: admin.tokenHash,
      clock,
      cacheSeconds: 60,
      verifyToken,
    })
    await auth.authenticate(`Bearer ${admin.token}`)
    await auth.authenticate(`Bearer ${admin.token}`)
    expect(calls).toHaveLength(1)
    clock.advance(60_000)
    await auth.authenticate(`Bearer ${admin.token}`)
    expect(calls).toHaveLength(2)
  })

  it('does not let a cached token vouch for another one', async () => {
    const { calls, verifyToken } = counting()
    const auth = createAdminAuthenticator({
      tokenHash: admin.tokenHash,
      clock: manualClock(),
      cacheSeconds: 60,
      verifyToken,
    })
    await auth.authenticate(`Bearer ${admin.token}`)
    await expect(auth.authenticate(`Bearer ${admin.token}x`)).rejects.toMatchObject({
      code: 'invalid_token',
      status: 401,
    })
    expect(calls).toHaveLength(2)
  })

  it('never caches a wrong token', async () => {
    const { calls, verifyToken } = counting()
    const auth = createAdminAuthenticator({
      tokenHash: admin.tokenHash,
      clock: manualClock(),
      cacheSeconds: 60,
      verifyToken,
    })
    for (let i = 0; i < 2; i++) {
      await expect(auth.authenticate('Bearer nope')).rejects.toMatchObject({
        code: 'invalid_token',
      })
    }
    expect(calls).toEqual(['nope', 'nope'])
  })

  it('shares one argon2 run between concurrent requests with the same token', async () => {
    const { calls, verifyToken } = counting()
    const auth = createAdminAuthenticator({
      tokenHash: admin.tokenHash,
      clock: manualClock(),
      cacheSeconds: 0,
      verifyToken,
    })
    await Promise.all(Array.from({ length: 5 }, () => auth.authenticate(`Bearer ${admin.token}`)))
    expect(calls).toHaveLength(1)
  })

  it('refuses to run argon2 for more unverified tokens at once than allowed', async () => {
    const auth = createAdminAuthenticator({
      tokenHash: admin.tokenHash,
      clock: manualClock(),
      cacheSeconds: 60,
      maxConcurrentVerifications: 2,
    })
    const results = await Promise.allSettled(
      ['guess-1', 'guess-2', 'guess-3'].map((t) => auth.authenticate(`Bearer ${t}`)),
    )
    const codes = results.map((r) => r.status === 'rejected' && (r.reason as { code: string }).code)
    expect(codes).toEqual(['invalid_token', 'invalid_token', 'temporarily_unavailable'])
    // Once those are done, the admin gets in.
    await auth.authenticate(`Bearer ${admin.token}`)
  })
})

describe('admin token configuration', () => {
  it('reads the hash from WRIT_ADMIN_TOKEN_HASH', () => {
    const config = loadConfig({ WRIT_ADMIN_TOKEN_HASH: admin.tokenHash })
    expect(config.admin).toEqual({ tokenHash: admin.tokenHash, tokenCacheSeconds: 60, bootstrap: true })
    expect(loadConfig({}).admin.tokenHash).toBeUndefined()
  })

  it.each([
    ['a clear-text token', 'my-admin-token'],
    ['an argon2i hash', '$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo'],
    ['a bcrypt hash', '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234'],
  ])('refuses %s as the admin token hash, naming the setting', (_name, value) => {
    expect(() => loadConfig({ WRIT_ADMIN_TOKEN_HASH: value })).toThrow(ConfigError)
    try {
      loadConfig({ WRIT_ADMIN_TOKEN_HASH: value })
    } catch (err) {
      expect((err as ConfigError).problems.join('\n')).toContain('admin.tokenHash')
    }
  })
})
