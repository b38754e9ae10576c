/**
 * Review finding (low–medium): per-address budgets (wrong admin tokens, failed client logins) are
 * keyed by the full address. Any IPv6 host is handed a /64 (often a /56 or /48), so one host gets
 * 2^64 budgets: every wrong admin token below is checked with argon2 and none is refused 429,
 * though all come from one /64. With enough of them waiting, the argon2 queue fills (64) and the
 * admin gets 503, which is the flood issue 19 point 10 closed for IPv4. Key IPv6 budgets by /64
 * (and map IPv4-mapped addresses to IPv4).
 *
 * The address is given by the configured client address header, as a proxy in front would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSecret } from '../../src/clients/index.js'
import { makeTestBroker, type TestBroker } from '../helpers/broker.js'

let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker({
    config: {
      admin: { bootstrap: false, tokenHash: await hashSecret('writ-review-admin-token-0123456789abcdef') },
      limits: { clientIpHeader: 'x-real-ip', adminAuthFailureBurst: 3, adminAuthFailuresPerMinute: 1 },
    },
  })
}, 60_000)

afterAll(async () => {
  await broker?.close()
})

describe('per-address budgets for IPv6', () => {
  it('one /64 shares one budget of wrong admin tokens', async () => {
    const statuses: number[] = []
    for (let i = 1; i <= 10; i++) {
      const res = await broker.call('GET', '/admin/grants', {
        headers: { authorization: `Bearer wrong-${i}-0123456789abcdef`, 'x-real-ip': `2001:db8:1:2::${i.toString(16)}` },
      })
      statuses.push(res.status)
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(7)
  })
})
