import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApprovalBroker } from '../approvals/helpers.js'
import { CLIENT, makeAuthorizationBroker, REDIRECT, WEB_REDIRECT } from '../authorization/helpers.js'
import { fuzz, hostileJson, hostileText } from './fuzz-runs.js'

let broker: ApprovalBroker
beforeAll(async () => {
  broker = await makeAuthorizationBroker()
})
afterAll(() => broker?.close())

const NAMES = ['response_type', 'client_id', 'redirect_uri', 'code_challenge', 'code_challenge_method', 'authorization_details', 'state', 'resource', 'dpop_jkt', 'scope', 'request']

describe('GET /oauth/authorize with hostile parameters', () => {
  it('answers a page, a consent page or a redirect to a registered URI: never a 5xx, never elsewhere', async () => {
    const value = fc.oneof(
      hostileText(),
      hostileJson().map((v) => JSON.stringify(v) ?? ''),
      fc.constantFrom(CLIENT, REDIRECT, WEB_REDIRECT, 'code', 'S256', 'plain', 'A'.repeat(43), 'http://127.0.0.1:1/callback', 'https://evil.example.com/cb'),
    )
    const query = fc.array(fc.tuple(fc.constantFrom(...NAMES), value), { maxLength: 12 })
    await fuzz('authorize', 150, query, async (pairs) => {
      const params = new URLSearchParams()
      for (const [name, v] of pairs) params.append(name, v)
      const res = await broker.call('GET', `/oauth/authorize?${params.toString()}`)
      expect([200, 302, 400, 429]).toContain(res.status)
      if (res.status === 302) {
        const location = res.headers.get('location')!
        const target = location.split('?', 1)[0]!
        // Ensure a redirect only ever goes to one of the client's registered URIs (any loopback port).
        expect([REDIRECT, WEB_REDIRECT].includes(target) || /^http:\/\/127\.0\.0\.1:\d{1,5}\/callback$/.test(target), location).toBe(true)
        expect(new URLSearchParams(location.split('?')[1]).get('code')).toBeNull()
      }
    })
  })
})
