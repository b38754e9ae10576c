import { request as httpRequest } from 'node:http'
import { serve, type ServerType } from '@hono/node-server'
import { parse as parseYaml } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { createAdminToken } from '../../src/admin/index.js'
import { ADMIN_TOKEN, A, json, makeApprovalBroker, type ApprovalBroker } from '../approvals/helpers.js'
import { docsManifest, form, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { checkResponse } from '../helpers/openapi.js'
import { freePort } from '../helpers/redis.js'

const B: [string, string] = ['agent-b', SECRETS['agent-b']]

describe('per-client rate limit', () => {
  let broker: TestBroker
  beforeAll(async () => {
    broker = await makeTestBroker({ config: { limits: { clientBurst: 3, clientRequestsPerSecond: 1 } } })
  })
  afterAll(() => broker.close())
  const readOnly = docsManifest({ grants: [docsManifest().grants[0]] })
  const issue = (client: [string, string]) => broker.call('POST', '/v1/tokens', { ...json(readOnly), basic: client })

  it('answers 429 slow_down with Retry-After past the burst, issues nothing, and refills with time', async () => {
    for (let i = 0; i < 3; i++) expect((await issue(A)).status).toBe(200)
    const refused = await issue(A)
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('1')
    const body = await refused.json()
    expect(body.error).toBe('slow_down')
    expect(JSON.stringify(body)).not.toContain('access_token')
    expect(await broker.store.grants.countLiveGrants('agent-a')).toBe(3)
    // The limit applies on every route the client authenticates to.
    expect((await broker.call('POST', '/oauth/introspect', { ...form({ token: 'x' }), basic: A })).status).toBe(429)
    // Other clients have their own budget.
    expect((await issue(B)).status).toBe(200)
    broker.clock.advance(1000)
    expect((await issue(A)).status).toBe(200)
    expect((await issue(A)).status).toBe(429)
  })

  it('does not let anyone spend a client\'s budget by claiming its id', async () => {
    broker.clock.advance(10_000)
    for (let i = 0; i < 5; i++) {
      const res = await broker.call('POST', '/v1/tokens', { ...json(readOnly), basic: ['agent-a', 'wrong secret'] })
      expect(res.status).toBe(401)
    }
    expect((await issue(A)).status).toBe(200)
  })
})

/** A broker on a real port, so requests arrive over TCP from an address. */
async function listen(broker: Pick<ApprovalBroker, 'app'>): Promise<{ url: string; server: ServerType }> {
  const port = await freePort()
  const server = serve({ fetch: broker.app.fetch, port, hostname: '0.0.0.0' })
  await new Promise((r) => server.once('listening', r))
  return { url: `http://127.0.0.1:${port}`, server }
}

/** One HTTP request from a chosen local address (127.0.0.x are all loopback on Linux). */
function send(
  url: string,
  options: { method?: string; path: string; from?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${options.path}`, {
      method: options.method ?? 'GET',
      localAddress: options.from ?? '127.0.0.1',
      headers: options.headers,
    })
    req.once('error', reject)
    req.once('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.end(options.body)
  })
}

/** Node's response headers as a fetch `Headers`. */
function flat(headers: Record<string, string | string[] | undefined>): Headers {
  const out = new Headers()
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) out.append(name, v)
  }
  return out
}

describe('per-address limit on the approval and enrolment pages (over TCP)', () => {
  let broker: ApprovalBroker
  let url: string
  let server: ServerType
  beforeAll(async () => {
    broker = await makeApprovalBroker({ config: { limits: { pageBurst: 3, pageRequestsPerMinute: 60 } } })
    ;({ url, server } = await listen(broker))
  })
  afterAll(async () => {
    await new Promise((r) => server.close(r))
    await broker.close()
  })

  it('answers 429 slow_down with Retry-After once an address has used its burst; other addresses still get in', async () => {
    const from = '127.0.0.3'
    for (let i = 0; i < 3; i++) expect((await send(url, { path: '/approve/unknown-request', from })).status).toBe(404)
    const refused = await send(url, { path: '/approve/unknown-request', from })
    expect(refused.status).toBe(429)
    expect(refused.headers['retry-after']).toBe('1')
    expect(JSON.parse(refused.body).error).toBe('slow_down')
    // The ceremonies and the enrolment pages share the address's budget.
    const options = await send(url, { method: 'POST', path: '/enroll/x/options', from, headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(options.status).toBe(429)
    expect((await send(url, { path: '/approve/unknown-request', from: '127.0.0.4' })).status).toBe(404)
    // Time refills the bucket.
    broker.clock.advance(1000)
    expect((await send(url, { path: '/approve/unknown-request', from })).status).toBe(404)
  })

  it('leaves the token endpoints to the per-client limit', async () => {
    const from = '127.0.0.5'
    for (let i = 0; i < 5; i++) expect((await send(url, { path: '/healthz', from })).status).toBe(200)
  })
})

describe('per-address limit behind a proxy (clientIpHeader, trustedProxies)', () => {
  it('keys the limit by the header the trusted proxy sets', async () => {
    const broker = await makeApprovalBroker({
      config: { limits: { pageBurst: 2, clientIpHeader: 'x-real-ip', trustedProxies: ['127.0.0.2'] } },
    })
    const { url, server } = await listen(broker)
    const page = (ip: string) => send(url, { path: '/approve/unknown', from: '127.0.0.2', headers: { 'x-real-ip': ip } })
    try {
      expect((await page('198.51.100.7')).status).toBe(404)
      expect((await page('198.51.100.7')).status).toBe(404)
      const refused = await page('198.51.100.7')
      expect(refused.status).toBe(429)
      await checkResponse('GET', '/approve/unknown', new Response(refused.body, { status: refused.status, headers: flat(refused.headers) }))
      expect((await page('198.51.100.8')).status).toBe(404)
    } finally {
      await new Promise((r) => server.close(r))
      await broker.close()
    }
  })
})

describe('a flood of wrong credentials from a few addresses (over TCP)', () => {
  /** Most requests one flooding address sends: the loops end even if nothing cuts them off. */
  const MAX_FLOOD = 150
  /** Calls the legitimate caller makes while the flood goes on. */
  const CALLS = 10
  const FLOODERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']
  const LEGIT = '127.0.0.9'
  let admin: { token: string; tokenHash: string }
  let broker: TestBroker
  let url: string
  let server: ServerType
  beforeAll(async () => {
    admin = await createAdminToken()
    // Verified credentials are remembered for 1 s only: each legitimate call below needs argon2.
    broker = await makeTestBroker({
      config: { admin: { tokenHash: admin.tokenHash, tokenCacheSeconds: 1 }, clientAuth: { secretCacheSeconds: 1 } },
    })
    ;({ url, server } = await listen(broker))
  })
  afterAll(async () => {
    await new Promise((r) => server.close(r))
    await broker.close()
  })

  /**
   * Each flooding address sends distinct wrong credentials, one request after another, until the
   * legitimate caller is done and the address has been cut off (429), or MAX_FLOOD requests.
   * Meanwhile the legitimate caller, from another address, makes CALLS calls once every flooding
   * address has had its first answer; each call comes after the cached credential expired.
   * Returns the legitimate caller's statuses and, per flooding address, how often each status came.
   */
  async function underFlood(
    attack: (from: string, i: number) => Promise<number>,
    legitimate: () => Promise<number>,
  ): Promise<{ legit: number[]; flood: Array<Record<number, number>> }> {
    const flood = FLOODERS.map(() => ({}) as Record<number, number>)
    let legitDone = false
    let warm!: () => void
    const allAnswered = new Promise<void>((resolve) => (warm = resolve))
    const loops = FLOODERS.map(async (from, s) => {
      const seen = flood[s]!
      for (let i = 0; i < MAX_FLOOD && !(legitDone && seen[429]); i++) {
        const status = await attack(from, i)
        seen[status] = (seen[status] ?? 0) + 1
        if (flood.every((f) => Object.keys(f).length > 0)) warm()
      }
    })
    await allAnswered
    const legit: number[] = []
    for (let i = 0; i < CALLS; i++) {
      broker.clock.advance(1001)
      legit.push(await legitimate())
    }
    legitDone = true
    await Promise.all(loops)
    return { legit, flood }
  }

  it('keeps the admin API reachable from another address while four addresses send wrong admin tokens', async () => {
    const { legit, flood } = await underFlood(
      async (from, i) =>
        (await send(url, { path: '/admin/grants', from, headers: { authorization: `Bearer wrong-${from}-${i}` } })).status,
      async () =>
        (await send(url, { path: '/admin/grants', from: LEGIT, headers: { authorization: `Bearer ${admin.token}` } })).status,
    )
    expect(legit).toEqual(Array(CALLS).fill(200))
    for (const seen of flood) {
      // Refused, then cut off without argon2: the address's budget (10, refilling 10 a minute).
      expect(Object.keys(seen).sort()).toEqual(['401', '429'])
      expect(seen[401]).toBeLessThanOrEqual(10 + 2)
    }
  })

  it('keeps client authentication working from another address while four addresses send wrong secrets', async () => {
    const manifest = JSON.stringify(docsManifest({ grants: [docsManifest().grants[0]] }))
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
    const issue = async (from: string, authorization: string) =>
      (
        await send(url, {
          method: 'POST',
          path: '/v1/tokens',
          from,
          headers: { authorization, 'content-type': 'application/json' },
          body: manifest,
        })
      ).status
    const { legit, flood } = await underFlood(
      // Wrong secrets for a real client, and clients that do not exist: both cost argon2.
      (from, i) => issue(from, i % 2 ? basic('agent-a', `wrong-${from}-${i}`) : basic(`ghost-${i}`, 'x')),
      () => issue(LEGIT, basic('agent-b', SECRETS['agent-b'])),
    )
    expect(legit).toEqual(Array(CALLS).fill(200))
    for (const seen of flood) {
      // Refused, then cut off without argon2: the address's budget (20, refilling 30 a minute).
      expect(Object.keys(seen).sort()).toEqual(['401', '429'])
      expect(seen[401]).toBeLessThanOrEqual(20 + 6)
    }
    expect(await broker.store.grants.countLiveGrants('agent-a')).toBe(0)
  })
})

describe('per-address budgets of wrong credentials behind a proxy (clientIpHeader, trustedProxies)', () => {
  it('keys the admin and client budgets by the header the trusted proxy sets', async () => {
    const admin = await createAdminToken()
    const broker = await makeTestBroker({
      config: {
        admin: { tokenHash: admin.tokenHash },
        limits: { clientIpHeader: 'x-real-ip', trustedProxies: ['127.0.0.2'], adminAuthFailureBurst: 2, clientAuthFailureBurst: 2 },
      },
    })
    const { url, server } = await listen(broker)
    const adminCall = (ip: string, token: string) =>
      send(url, { path: '/admin/grants', from: '127.0.0.2', headers: { 'x-real-ip': ip, authorization: `Bearer ${token}` } })
    const introspect = (ip: string, [id, secret]: [string, string]) =>
      send(url, {
        method: 'POST',
        path: '/oauth/introspect',
        from: '127.0.0.2',
        headers: {
          'x-real-ip': ip,
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        },
        body: 'token=x',
      })
    try {
      expect((await adminCall('198.51.100.7', 'guess-1')).status).toBe(401)
      expect((await adminCall('198.51.100.7', 'guess-2')).status).toBe(401)
      const refused = await adminCall('198.51.100.7', 'guess-3')
      expect(refused.status).toBe(429)
      expect(refused.headers['retry-after']).toBe('6')
      expect(JSON.parse(refused.body).error).toBe('slow_down')
      expect((await adminCall('198.51.100.8', admin.token)).status).toBe(200)

      expect((await introspect('198.51.100.7', ['agent-a', 'wrong'])).status).toBe(401)
      expect((await introspect('198.51.100.7', ['ghost', 'wrong'])).status).toBe(401)
      const cutOff = await introspect('198.51.100.7', ['agent-a', 'wrong again'])
      expect(cutOff.status).toBe(429)
      expect(cutOff.headers['retry-after']).toBe('2')
      expect((await introspect('198.51.100.8', B)).status).toBe(200)
    } finally {
      await new Promise((r) => server.close(r))
      await broker.close()
    }
  })
})

describe('a request that bypasses the proxy (over TCP, not from a trusted proxy)', () => {
  it('is counted by its TCP peer, whatever address its header names', async () => {
    const admin = await createAdminToken()
    const broker = await makeTestBroker({
      config: {
        admin: { tokenHash: admin.tokenHash },
        limits: { clientIpHeader: 'x-real-ip', trustedProxies: ['127.0.0.2'], adminAuthFailureBurst: 2 },
      },
    })
    const { url, server } = await listen(broker)
    const guess = (i: number, headers: Record<string, string> = {}) =>
      send(url, { path: '/admin/grants', from: '127.0.0.6', headers: { authorization: `Bearer guess-${i}`, ...headers } })
    try {
      expect((await guess(1)).status).toBe(401)
      expect((await guess(2, { 'x-real-ip': '198.51.100.20' })).status).toBe(401)
      expect((await guess(3, { 'x-real-ip': '198.51.100.21' })).status).toBe(429)
      expect((await guess(4)).status).toBe(429)
    } finally {
      await new Promise((r) => server.close(r))
      await broker.close()
    }
  })
})

describe('body-size limit on every route that reads a body', () => {
  let broker: ApprovalBroker
  beforeAll(async () => {
    broker = await makeApprovalBroker({ config: { limits: { bodyBytes: 1024 } } })
  })
  afterAll(() => broker.close())

  const document = parseYaml(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, unknown>>
  }
  const posts = Object.entries(document.paths)
    .filter(([, ops]) => 'post' in ops)
    .map(([path]) => path)
    // Answered 404 before any body is read: AWS vending is off in this broker.
    .filter((path) => path !== '/v1/credentials/aws')

  const auth = (path: string): Record<string, string> =>
    path.startsWith('/admin/')
      ? { authorization: `Bearer ${ADMIN_TOKEN}` }
      : { authorization: `Basic ${Buffer.from(`${A[0]}:${encodeURIComponent(A[1]).replace(/%20/g, '+')}`).toString('base64')}` }
  const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'x')
  const big = JSON.stringify({ pad: 'x'.repeat(4096) })

  // The OAuth endpoints take forms; the consent ceremony under /oauth/authorize/ takes JSON.
  const type = (path: string) =>
    path.startsWith('/oauth/') && !path.startsWith('/oauth/authorize/') ? 'application/x-www-form-urlencoded' : 'application/json'

  it.each(posts)('POST %s refuses a declared oversized body with 413', async (path) => {
    const res = await broker.call('POST', concrete(path), {
      headers: { ...auth(path), 'content-type': type(path), 'content-length': String(Buffer.byteLength(big)) },
      body: big,
    })
    expect(res.status).toBe(413)
    expect((await res.json()).error).toBe('invalid_request')
  })

  it.each(posts)('POST %s refuses an undeclared (streamed) oversized body with 413', async (path) => {
    const chunk = new TextEncoder().encode('x'.repeat(512))
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 16) controller.enqueue(chunk)
        else controller.close()
      },
    })
    const res = await broker.call('POST', concrete(path), {
      headers: { ...auth(path), 'content-type': type(path) },
      body,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(413)
    // Never read to the end: the broker stopped at the limit.
    expect(sent).toBeLessThan(16)
  })
})

describe('enrolment invites', () => {
  it('expire after approvals.inviteTtlSeconds: the page and the ceremony answer 404', async () => {
    const broker = await makeApprovalBroker({ config: { approvals: { inviteTtlSeconds: 600 } } })
    try {
      const res = await broker.call('POST', '/admin/approvers/invites', {
        ...json({ approver: 'alice@example.com', group: 'release-managers' }),
        bearer: ADMIN_TOKEN,
      })
      const path = new URL((await res.json()).invite_url).pathname
      expect((await broker.call('GET', path)).status).toBe(200)
      broker.clock.advance(601_000)
      expect((await broker.call('GET', path)).status).toBe(404)
      expect((await broker.call('POST', `${path}/options`, json({}))).status).toBe(404)
    } finally {
      await broker.close()
    }
  })
})

describe('security headers on every HTML page', () => {
  it('sends a CSP without inline script and with frame denial, and pages carry no inline script', async () => {
    const broker = await makeApprovalBroker()
    try {
      const invite = await broker.call('POST', '/admin/approvers/invites', {
        ...json({ approver: 'alice@example.com', group: 'release-managers' }),
        bearer: ADMIN_TOKEN,
      })
      const enrolPath = new URL((await invite.json()).invite_url).pathname
      for (const path of [enrolPath, '/enroll/unknown', '/approve/unknown']) {
        const res = await broker.call('GET', path)
        expect(res.headers.get('content-type')).toMatch(/^text\/html/)
        const csp = res.headers.get('content-security-policy') ?? ''
        expect(csp).toContain("frame-ancestors 'none'")
        expect(csp).toMatch(/script-src 'self'(;|$)/)
        expect(csp).not.toContain('unsafe-inline')
        expect(csp).not.toContain('unsafe-eval')
        expect(res.headers.get('x-frame-options')).toBe('DENY')
        const html = await res.text()
        // Every <script> has a src; no inline event handlers.
        expect(html.match(/<script(?![^>]*\ssrc=)[^>]*>/g) ?? []).toEqual([])
        expect(html).not.toMatch(/\son[a-z]+\s*=/i)
      }
    } finally {
      await broker.close()
    }
  })
})
