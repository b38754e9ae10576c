import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { ACCESS_TOKEN, CLIENTS, details, makeDelegationBroker, oauthClient, secretOf, TOKEN_EXCHANGE } from '../delegation/helpers.js'
import { fuzz, hostileJson, hostileText } from './fuzz-runs.js'

/** RFC 6749 / 8693 / 9396 / 9449 codes and writ's own: any other `error` is a bug. */
const ERROR_CODES = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type',
  'invalid_scope', 'invalid_authorization_details', 'invalid_dpop_proof', 'use_dpop_nonce', 'access_denied',
  'quota_exceeded', 'slow_down',
])

let broker: TestBroker
/** A live parent whose one grant (a single file) nothing generated here can be covered by. */
let parent: string

beforeAll(async () => {
  broker = await makeDelegationBroker({ config: { limits: { clientBurst: 1_000_000 } } })
  parent = (await oauthClient(broker, 'planner').issue(details(['read'], 'docs/only-this-file.md'))).access_token
})
afterAll(() => broker?.close())

const snapshot = async (): Promise<string> =>
  JSON.stringify((await broker.store.grants.listGrants({})).map((g) => g.id).sort())

describe('token exchange under hostile input', () => {
  it('refuses with a 4xx RFC 6749 error, never a token or a stored grant', async () => {
    const subject = fc.oneof(fc.constant(() => parent), hostileText(300).map((t) => () => t))
    const detailsParam = fc.oneof(hostileText(200), hostileJson().map((v) => JSON.stringify(v) ?? 'null'))
    const optional = (arb: fc.Arbitrary<string>) => fc.option(arb, { nil: undefined })
    await fuzz(
      'token exchange (hostile parameters)',
      120,
      fc.record({
        client: fc.constantFrom(...CLIENTS),
        subject,
        subjectType: fc.oneof(fc.constant(ACCESS_TOKEN), hostileText(80)),
        details: optional(detailsParam),
        ttl: optional(hostileText(20)),
        proof: optional(hostileText(200)),
        requested: optional(hostileText(60)),
      }),
      async (c) => {
        const before = await snapshot()
        const params: Record<string, string> = {
          grant_type: TOKEN_EXCHANGE,
          subject_token: c.subject(),
          subject_token_type: c.subjectType,
        }
        if (c.details !== undefined) params.authorization_details = c.details
        if (c.ttl !== undefined) params.ttl = c.ttl
        if (c.proof !== undefined) params.subject_token_dpop = c.proof
        if (c.requested !== undefined) params.requested_token_type = c.requested
        const res = await broker.call('POST', '/oauth/token', {
          basic: [c.client, secretOf(c.client)],
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(params).toString(),
        })
        const text = await res.text()
        const context = `${res.status} ${text.slice(0, 300)} for ${JSON.stringify(params).slice(0, 600)}`
        expect(res.status, context).toBeGreaterThanOrEqual(400)
        expect(res.status, context).toBeLessThan(500)
        const body = JSON.parse(text) as { error: string; error_description: unknown }
        expect(ERROR_CODES.has(body.error), context).toBe(true)
        expect(typeof body.error_description, context).toBe('string')
        expect(body, context).not.toHaveProperty('access_token')
        expect(await snapshot(), context).toBe(before)
      },
    )
  })
})
