/**
 * Review finding (low): introspection tells a client nothing about another client's token, "not
 * even that it is live" (SECURITY.md, RFC 7662 §4), but `POST /oauth/revoke` tells it exactly that:
 * another client's live token answers 403, the same token once revoked (or any dead token) 200.
 * A client holding a token it cannot use (DPoP-bound to another key) learns whether it is live.
 * RFC 7009 §2.2 allows answering 200 for a token the caller may not revoke; doing so (and revoking
 * nothing) closes the oracle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, form, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const B: [string, string] = ['agent-b', SECRETS['agent-b']]
let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker()
}, 60_000)

afterAll(async () => {
  await broker?.close()
})

describe("revocation is no oracle for another client's token", () => {
  it('answers the same whether the other client\'s token is live or revoked', async () => {
    const issued = await broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
    const { access_token: token } = await issued.json()
    const live = (await broker.call('POST', '/oauth/revoke', { ...form({ token }), basic: B })).status
    expect((await broker.call('POST', '/oauth/revoke', { ...form({ token }), basic: A })).status).toBe(200)
    const dead = (await broker.call('POST', '/oauth/revoke', { ...form({ token }), basic: B })).status
    expect(live).toBe(dead)
  })
})
