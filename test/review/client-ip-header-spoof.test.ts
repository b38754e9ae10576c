/**
 * Review finding: `limits.clientIpHeader` is believed from any TCP peer, not only from the reverse
 * proxy that sets it. SECURITY.md says a request that bypassed the proxy "is counted by its TCP
 * peer", but a request that bypasses the proxy AND carries the header is counted under whatever
 * address it names. So one host reaching the broker directly (a pod in the cluster, a host on the
 * same network) can (1) spend the admin's own per-address budget of wrong admin tokens, so the
 * admin's right token is answered 429 without being checked, and (2) draw a fresh budget per
 * request, so the per-address budget of argon2 runs does not bound it at all.
 *
 * Peers are distinct loopback addresses: 127.0.0.2 plays the proxy in front of the admin (it sets
 * x-real-ip to the admin's address), 127.0.0.3 the attacker connecting directly.
 */
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSecret } from '../../src/clients/index.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'

const ADMIN_TOKEN = 'writ-review-admin-token-0123456789abcdef'
const ADMIN_ADDRESS = '203.0.113.9'
let http: HttpBroker

/** GET /admin/grants from `localAddress` with the given headers; answers the status. */
function adminCall(localAddress: string, token: string, headers: Record<string, string>): Promise<number> {
  const url = new URL(`${http.url}/admin/grants`)
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'GET', localAddress, headers: { authorization: `Bearer ${token}`, ...headers } },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

beforeAll(async () => {
  http = await startHttpBroker({
    admin: { bootstrap: false, tokenHash: await hashSecret(ADMIN_TOKEN) },
    limits: { clientIpHeader: 'x-real-ip', adminAuthFailureBurst: 3, adminAuthFailuresPerMinute: 1 },
  })
}, 60_000)

afterAll(async () => {
  await http?.close()
})

describe('the client address header is believed only from the proxy', () => {
  it("a direct peer naming the admin's address cannot lock the admin out", async () => {
    // The attacker, connecting directly, sends wrong tokens naming the admin's address.
    for (let i = 0; i < 5; i++) {
      await adminCall('127.0.0.3', `wrong-token-${i}-0123456789abcdef`, { 'x-real-ip': ADMIN_ADDRESS })
    }
    // The admin, through the proxy, with the right token.
    const status = await adminCall('127.0.0.2', ADMIN_TOKEN, { 'x-real-ip': ADMIN_ADDRESS })
    expect(status).toBe(200)
  })

  it('a direct peer cannot draw a fresh budget per request by naming a new address each time', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) {
      statuses.push(await adminCall('127.0.0.4', `wrong-${i}-0123456789abcdef`, { 'x-real-ip': `198.51.100.${i + 1}` }))
    }
    // Budget 3 for the one peer: the rest must be refused 429 without argon2.
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(7)
  })
})
