import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createAdminAuthenticator, createAdminToken } from '../../src/admin/index.js'
import { verifySecret } from '../../src/client-auth/index.js'
import { manualClock } from '../../src/clock.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import { createRateLimiter } from '../../src/limits/index.js'
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
    expect((await broker.store.grants.getGrant('agent-a', grant_id)).state).toBe('live')
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

  /** A verifyToken whose runs the test finishes one by one; counts how many run at once. */
  const gated = () => {
    const runs: Array<{ token: string; finish: () => void }> = []
    let running = 0
    let mostAtOnce = 0
    const verifyToken = async (hash: string, token: string) => {
      running += 1
      mostAtOnce = Math.max(mostAtOnce, running)
      await new Promise<void>((resolve) => runs.push({ token, finish: resolve }))
      running -= 1
      return verifySecret(hash, token)
    }
    /** Finishes the oldest run still going, once it has started. */
    const finishNext = async () => {
      await vi.waitFor(() => expect(runs.length).toBeGreaterThan(0))
      runs.shift()!.finish()
    }
    return { verifyToken, runs, finishNext, mostAtOnce: () => mostAtOnce }
  }
  /** What an attempt came to: `ok`, or the code it was refused with (handled at once). */
  const outcome = (attempt: Promise<void>): Promise<string> =>
    attempt.then(
      () => 'ok',
      (err: unknown) => (err as { code: string }).code,
    )

  it('runs argon2 for at most two unverified tokens at once; the others wait their turn, beyond the queue 503', async () => {
    const gate = gated()
    const auth = createAdminAuthenticator({
      tokenHash: admin.tokenHash,
      clock: manualClock(),
      cacheSeconds: 60,
      maxConcurrentVerifications: 2,
      maxQueuedVerifications: 2,
      verifyToken: gate.verifyToken,
    })
    const attempts = ['guess-1', 'guess-2', 'guess-3', admin.token, 'guess-5'].map((t) =>
      outcome(auth.authenticate(`Bearer ${t}`)),
    )
    // Two run, two wait, the fifth finds the line full.
    expect(await attempts[4]).toBe('temporarily_unavailable')
    for (let i = 0; i < 4; i++) await gate.finishNext()
    const results = await Promise.all(attempts.slice(0, 4))
    expect(results).toEqual(['invalid_token', 'invalid_token', 'invalid_token', 'ok'])
    expect(gate.mostAtOnce()).toBe(2)
  })

  it('checks one unverified token per source at a time; the same token is checked once for all', async () => {
    const gate = gated()
    const auth = createAdminAuthenticator({
      tokenHash: admin.tokenHash,
      clock: manualClock(),
      cacheSeconds: 60,
      verifyToken: gate.verifyToken,
    })
    const first = outcome(auth.authenticate('Bearer guess-1', '192.0.2.1'))
    const again = outcome(auth.authenticate('Bearer guess-1', '192.0.2.1'))
    await expect(auth.authenticate('Bearer guess-2', '192.0.2.1')).rejects.toMatchObject({
      code: 'slow_down',
      status: 429,
      retryAfterSeconds: 1,
    })
    // Another address is not held up by this one.
    const other = outcome(auth.authenticate(`Bearer ${admin.token}`, '192.0.2.2'))
    await gate.finishNext()
    await gate.finishNext()
    expect(await Promise.all([first, again, other])).toEqual(['invalid_token', 'invalid_token', 'ok'])
    expect(gate.runs).toHaveLength(0)
  })

  it('spends a source\'s budget on wrong tokens only, and refuses it without argon2 once spent', async () => {
    const clock = manualClock()
    const { calls, verifyToken } = counting()
    const auth = createAdminAuthenticator({
      tokenHash: admin.tokenHash,
      clock,
      cacheSeconds: 0,
      verifyToken,
      failureBudget: createRateLimiter({ burst: 2, perSecond: 1 / 60, maxKeys: 10, clock }),
    })
    // The admin's own token, checked again and again (no cache), costs nothing.
    for (let i = 0; i < 5; i++) await auth.authenticate(`Bearer ${admin.token}`, '192.0.2.9')
    for (const guess of ['guess-1', 'guess-2']) {
      await expect(auth.authenticate(`Bearer ${guess}`, '192.0.2.1')).rejects.toMatchObject({ code: 'invalid_token' })
    }
    const before = calls.length
    const refused = await auth.authenticate('Bearer guess-3', '192.0.2.1').catch((e: unknown) => e)
    expect(refused).toMatchObject({ code: 'slow_down', status: 429, retryAfterSeconds: 60 })
    expect((refused as Error).message).toMatch(/wrong admin token from this address/)
    expect(calls).toHaveLength(before)
    // The admin, from another address, still gets in; the budget refills with time.
    await auth.authenticate(`Bearer ${admin.token}`, '192.0.2.9')
    clock.advance(60_000)
    await expect(auth.authenticate('Bearer guess-4', '192.0.2.1')).rejects.toMatchObject({ code: 'invalid_token' })
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
