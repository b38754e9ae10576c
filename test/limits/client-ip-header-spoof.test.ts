/**
 * `limits.clientIpHeader` is believed only from `limits.trustedProxies`. Believed from any TCP
 * peer, it would let one host reaching the broker directly (a pod in the cluster, a host on the
 * same network) (1) spend the admin's own per-address budget of wrong admin tokens, so the admin's
 * right token is answered 429 without being checked, and (2) draw a fresh budget per request, so
 * the per-address budget of argon2 runs does not bound it at all.
 *
 * Peers are distinct loopback addresses: 127.0.0.2 plays the proxy in front of the admin (it sets
 * the header to the address it heard from), 127.0.0.3 and 127.0.0.4 attackers connecting directly.
 */
import { request } from 'node:http'
import { serve, type ServerType } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSecret } from '../../src/client-auth/index.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'
import { makeTestBroker, type TestBroker } from '../helpers/broker.js'
import { freePort } from '../helpers/redis.js'

const ADMIN_TOKEN = 'writ-review-admin-token-0123456789abcdef'
const ADMIN_ADDRESS = '203.0.113.9'
const PROXY = '127.0.0.2'

/** GET /admin/grants on `url` from `localAddress` with the given headers; answers the status. */
function adminCall(url: string, localAddress: string, token: string, headers: Record<string, string>): Promise<number> {
  const target = new URL(`${url}/admin/grants`)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'GET',
        localAddress,
        headers: { authorization: `Bearer ${token}`, ...headers },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

describe('the client address header is believed only from the trusted proxy', () => {
  let http: HttpBroker
  beforeAll(async () => {
    http = await startHttpBroker({
      admin: { bootstrap: false, tokenHash: await hashSecret(ADMIN_TOKEN) },
      limits: { clientIpHeader: 'x-real-ip', trustedProxies: [PROXY], adminAuthFailureBurst: 3, adminAuthFailuresPerMinute: 1 },
    })
  }, 60_000)
  afterAll(async () => {
    await http?.close()
  })

  it("a direct peer naming the admin's address cannot lock the admin out", async () => {
    // The attacker, connecting directly, sends wrong tokens naming the admin's address.
    for (let i = 0; i < 5; i++) {
      await adminCall(http.url, '127.0.0.3', `wrong-token-${i}-0123456789abcdef`, { 'x-real-ip': ADMIN_ADDRESS })
    }
    // The admin, through the proxy, with the right token.
    expect(await adminCall(http.url, PROXY, ADMIN_TOKEN, { 'x-real-ip': ADMIN_ADDRESS })).toBe(200)
  })

  it('a direct peer cannot draw a fresh budget per request by naming a new address each time', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) {
      statuses.push(await adminCall(http.url, '127.0.0.4', `wrong-${i}-0123456789abcdef`, { 'x-real-ip': `198.51.100.${i + 1}` }))
    }
    // Budget 3 for the one peer: the rest are refused 429 without argon2.
    expect(statuses.filter((s) => s === 401)).toHaveLength(3)
    expect(statuses.filter((s) => s === 429)).toHaveLength(7)
  })

  it('the header still counts callers behind the proxy by their own address', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push(await adminCall(http.url, PROXY, `guess-${i}-0123456789abcdef`, { 'x-real-ip': '192.0.2.10' }))
    expect(statuses).toEqual([401, 401, 401, 429])
    // Another caller behind the same proxy has its own budget.
    expect(await adminCall(http.url, PROXY, ADMIN_TOKEN, { 'x-real-ip': '192.0.2.11' })).toBe(200)
  })
})

describe('a list header (x-forwarded-for): the right-most address that is not a trusted proxy', () => {
  let http: HttpBroker
  beforeAll(async () => {
    http = await startHttpBroker({
      admin: { bootstrap: false, tokenHash: await hashSecret(ADMIN_TOKEN) },
      limits: {
        clientIpHeader: 'x-forwarded-for',
        trustedProxies: [PROXY, '10.0.0.0/8'],
        adminAuthFailureBurst: 3,
        adminAuthFailuresPerMinute: 1,
      },
    })
  }, 60_000)
  afterAll(async () => {
    await http?.close()
  })

  it("a caller behind the proxy who prepends the admin's address spends only its own budget", async () => {
    // The attacker (192.0.2.66) sends `X-Forwarded-For: <admin>`; the proxy appends what it heard
    // from, and an inner proxy (10.1.2.3, trusted) appends too.
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      statuses.push(
        await adminCall(http.url, PROXY, `wrong-${i}-0123456789abcdef`, {
          'x-forwarded-for': `${ADMIN_ADDRESS}, 192.0.2.66, 10.1.2.3`,
        }),
      )
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429])
    expect(await adminCall(http.url, PROXY, ADMIN_TOKEN, { 'x-forwarded-for': `${ADMIN_ADDRESS}, 10.1.2.3` })).toBe(200)
  })
})

describe('a trusted proxy reaching a dual-stack listener (its address arrives IPv4-mapped)', () => {
  let broker: TestBroker
  let server: ServerType
  let url: string
  beforeAll(async () => {
    broker = await makeTestBroker({
      config: {
        admin: { bootstrap: false, tokenHash: await hashSecret(ADMIN_TOKEN) },
        limits: { clientIpHeader: 'x-real-ip', trustedProxies: [PROXY], adminAuthFailureBurst: 2, adminAuthFailuresPerMinute: 1 },
      },
    })
    const port = await freePort()
    server = serve({ fetch: broker.app.fetch, port, hostname: '::' })
    await new Promise((r) => server.once('listening', r))
    url = `http://127.0.0.1:${port}`
  }, 60_000)
  afterAll(async () => {
    await new Promise((r) => server.close(r))
    await broker.close()
  })

  it('matches ::ffff:127.0.0.2 against the IPv4 entry and believes its header', async () => {
    const from = (ip: string, i: number) => adminCall(url, PROXY, `wrong-${ip}-${i}-0123456789abcdef`, { 'x-real-ip': ip })
    expect([await from('192.0.2.20', 1), await from('192.0.2.20', 2), await from('192.0.2.20', 3)]).toEqual([401, 401, 429])
    expect(await from('192.0.2.21', 1)).toBe(401)
    expect(await adminCall(url, PROXY, ADMIN_TOKEN, { 'x-real-ip': '192.0.2.22' })).toBe(200)
  })
})
