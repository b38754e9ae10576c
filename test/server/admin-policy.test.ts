import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { policyHash } from '../../src/policy/policy-hash.js'
import { json, makeTestBroker, testPolicyText, type TestBroker } from '../helpers/broker.js'
import { policyWithoutAgentB } from '../helpers/policy-change.js'

/** `POST /admin/policy` (`writ policy apply`): its answers, each checked against openapi.yaml. */
describe('POST /admin/policy', () => {
  let stored: TestBroker
  let fileBased: TestBroker
  let token: string

  beforeAll(async () => {
    const admin = await createAdminToken()
    token = admin.token
    stored = await makeTestBroker({
      config: { policySource: 'store', keys: { kek: randomBytes(32).toString('base64') }, admin: { tokenHash: admin.tokenHash } },
    })
    fileBased = await makeTestBroker({ config: { admin: { tokenHash: admin.tokenHash } } })
  })
  afterAll(async () => {
    await stored?.close()
    await fileBased?.close()
  })

  const post = (broker: TestBroker, body: string, type = 'application/json') =>
    broker.call('POST', '/admin/policy', {
      headers: { 'content-type': type, authorization: `Bearer ${token}` },
      body,
    })

  it('refuses bad bodies with 400 naming the field, changing nothing', async () => {
    const before = stored.policy.latest().hash
    const cases: Array<[string, string, RegExp]> = [
      ['not json', 'application/json', /body is not valid JSON/],
      ['{}', 'application/json', /^policy: /],
      ['{"policy":5}', 'application/json', /^policy: /],
      ['{"policy":""}', 'application/json', /^policy: required/],
      ['{"policy":"x","extra":1}', 'application/json', /extra/],
      ['policy: x', 'application/yaml', /content-type must be application\/json/],
    ]
    for (const [body, type, message] of cases) {
      const res = await post(stored, body, type)
      expect(res.status, body).toBe(400)
      expect((await res.json()).error_description, body).toMatch(message)
    }
    expect(stored.policy.latest().hash).toBe(before)
  })

  it('lists every problem of an invalid policy, YAML syntax errors included', async () => {
    const text = (await testPolicyText()).replace('from: release-managers', 'from: nobody').replace('max_ttl: 5m', 'max_ttl: soon')
    const res = await post(stored, JSON.stringify({ policy: text }))
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toBe('invalid_request')
    expect(body.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^rules\[2\]\.approval\.from: unknown approver group "nobody"/),
        expect.stringMatching(/^rules\[1\]\.max_ttl: /),
      ]),
    )
    const syntax = await post(stored, JSON.stringify({ policy: 'version: 1\nclients: [\n' }))
    expect(syntax.status).toBe(400)
    expect((await syntax.json()).problems[0]).toMatch(/line \d+/)
    expect(stored.policy.latest().hash).toBe(policyHash(await testPolicyText()))
  })

  it('refuses a policy whose webhook secret is not set on this broker, as a start would', async () => {
    const before = stored.policy.latest().hash
    const text = (await testPolicyText()).replace(
      '    members: [alice@example.com, bob@example.com]\n',
      '    members: [alice@example.com, bob@example.com]\n    webhook: { url: "https://hooks.example.com/writ", secret_env: WRIT_UNSET_WEBHOOK_SECRET }\n',
    )
    expect(text).toContain('WRIT_UNSET_WEBHOOK_SECRET')
    const res = await post(stored, JSON.stringify({ policy: text }))
    expect(res.status).toBe(400)
    expect((await res.json()).problems).toEqual([
      'approver_groups release-managers: webhook.secret_env WRIT_UNSET_WEBHOOK_SECRET is not set in the environment',
    ])
    expect(stored.policy.latest().hash).toBe(before)
  })

  it('puts a valid policy in force and answers its hash; /readyz shows it', async () => {
    const next = await policyWithoutAgentB()
    const res = await post(stored, JSON.stringify({ policy: next }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ hash: policyHash(next), previous_hash: policyHash(await testPolicyText()), generation: 2 })
    const ready = await stored.call('GET', '/readyz')
    expect((await ready.json()).policy).toMatchObject({ hash: policyHash(next), source: 'store', generation: 2 })
  })

  it('is refused (409) on a broker that reads its policy from a file', async () => {
    const res = await post(fileBased, JSON.stringify({ policy: await policyWithoutAgentB() }))
    expect(res.status).toBe(409)
    expect((await res.json()).error_description).toContain('send SIGHUP')
    expect(fileBased.policy.latest().hash).toBe(policyHash(await testPolicyText()))
    const ready = await fileBased.call('GET', '/readyz')
    expect((await ready.json()).policy).toMatchObject({ hash: policyHash(await testPolicyText()), source: 'file' })
  })

  it('needs the admin token', async () => {
    const res = await stored.call('POST', '/admin/policy', json({ policy: 'x' }))
    expect(res.status).toBe(401)
  })
})
