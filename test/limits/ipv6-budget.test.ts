/**
 * Per-address budgets count an IPv6 caller by its /64, and an IPv4-mapped address as its IPv4
 * address. One IPv6 host is handed at least a /64 (often a /56 or /48): keyed by the full address,
 * one host would have 2^64 budgets, every wrong admin token would be checked with argon2 and none
 * refused 429, and with enough of them waiting the argon2 queue would fill and the admin get 503.
 *
 * The addresses are given by the client address header, set by a trusted proxy (127.0.0.2) in
 * front of the broker: loopback offers no IPv6 /64 to connect from.
 */
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSecret } from '../../src/client-auth/index.js'
import { SECRETS } from '../helpers/broker.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'

const ADMIN_TOKEN = 'writ-review-admin-token-0123456789abcdef'
const PROXY = '127.0.0.2'
let http: HttpBroker

/** One request through the proxy on behalf of `caller`; answers the status. */
function viaProxy(
  caller: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<number> {
  const target = new URL(`${http.url}${options.path}`)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: options.method ?? 'GET',
        localAddress: PROXY,
        headers: { 'x-real-ip': caller, ...options.headers },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

const admin = (caller: string, token: string) => viaProxy(caller, { path: '/admin/grants', headers: { authorization: `Bearer ${token}` } })
const introspect = (caller: string, id: string, secret: string) =>
  viaProxy(caller, {
    method: 'POST',
    path: '/oauth/introspect',
    headers: {
      authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'token=x',
  })
const page = (caller: string) => viaProxy(caller, { path: '/approve/unknown-request' })

beforeAll(async () => {
  http = await startHttpBroker({
    admin: { bootstrap: false, tokenHash: await hashSecret(ADMIN_TOKEN) },
    limits: {
      clientIpHeader: 'x-real-ip',
      trustedProxies: [PROXY],
      adminAuthFailureBurst: 3,
      adminAuthFailuresPerMinute: 1,
      clientAuthFailureBurst: 3,
      clientAuthFailuresPerMinute: 1,
      pageBurst: 3,
      pageRequestsPerMinute: 1,
    },
  })
}, 60_000)

afterAll(async () => {
  await http?.close()
})

describe('per-address budgets for IPv6', () => {
  it('one /64 shares one budget of wrong admin tokens; another /64 has its own', async () => {
    const statuses: number[] = []
    for (let i = 1; i <= 10; i++) statuses.push(await admin(`2001:db8:1:2::${i.toString(16)}`, `wrong-${i}-0123456789abcdef`))
    expect(statuses.filter((s) => s === 401)).toHaveLength(3)
    expect(statuses.filter((s) => s === 429)).toHaveLength(7)
    // Spelled differently (leading zeros, upper case, zone), still the same /64.
    expect(await admin('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff', 'wrong-again-0123456789abcdef')).toBe(429)
    expect(await admin('2001:db8:1:3::1', ADMIN_TOKEN)).toBe(200)
  })

  it('one /64 shares one budget of failed client logins', async () => {
    const statuses: number[] = []
    for (let i = 1; i <= 6; i++) statuses.push(await introspect(`2001:db8:5:6:${i}::1`, i % 2 ? 'agent-a' : `ghost-${i}`, `wrong-${i}`))
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429])
    expect(await introspect('2001:db8:5:7::1', 'agent-b', SECRETS['agent-b'])).toBe(200)
  })

  it('one /64 shares one budget on the approval pages', async () => {
    const statuses: number[] = []
    for (let i = 1; i <= 5; i++) statuses.push(await page(`2001:db8:9:9::${i}`))
    expect(statuses.slice(3)).toEqual([429, 429])
    expect(statuses.slice(0, 3)).not.toContain(429)
  })

  it('an IPv4-mapped address shares the budget of its IPv4 address', async () => {
    expect(await admin('198.51.100.5', 'wrong-1-0123456789abcdef')).toBe(401)
    expect(await admin('::ffff:198.51.100.5', 'wrong-2-0123456789abcdef')).toBe(401)
    expect(await admin('::ffff:c633:6405', 'wrong-3-0123456789abcdef')).toBe(401)
    expect(await admin('198.51.100.5', 'wrong-4-0123456789abcdef')).toBe(429)
    expect(await admin('::ffff:198.51.100.5', 'wrong-5-0123456789abcdef')).toBe(429)
  })
})
