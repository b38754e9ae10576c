import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, form, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const APP = 'https://git.example.com/acme/app'
let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker()
})
afterAll(() => broker.close())

const read = (overrides: Record<string, unknown>) => ({ type: 'repo', actions: ['read'], locations: [APP], identifier: 'docs/a.md', ...overrides })

/**
 * Grants the policy's `docs/**` rule (locations `https://git.example.com/acme/*`) would match as
 * globs, but that mean more than they show: each must be refused at issuance, naming the field.
 */
const WIDER: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ['a .. segment', read({ identifier: 'docs/../admin' }), 'identifier', /\. or \.\. segments/],
  ['a . segment', read({ identifier: 'docs/./a.md' }), 'identifier', /\. or \.\. segments/],
  ['percent-encoded dots', read({ identifier: 'docs/%2e%2e/admin' }), 'identifier', /percent-encode/],
  ['upper-case percent-encoded dots', read({ identifier: 'docs/%2E%2E/admin' }), 'identifier', /percent-encode/],
  ['a percent-encoded slash', read({ identifier: 'docs/..%2fadmin' }), 'identifier', /percent-encode/],
  ['a doubly encoded dot', read({ identifier: 'docs/%252e%252e/admin' }), 'identifier', /percent-encode/],
  ['a backslash', read({ identifier: 'docs/a\\..\\..\\admin' }), 'identifier', /backslashes/],
  ['userinfo', read({ identifier: 'https://u@host/docs/a.md' }), 'identifier', /userinfo/],
  ['a query', read({ identifier: 'docs/x?y' }), 'identifier', /query or fragment/],
  ['a fragment', read({ identifier: 'docs/x#y' }), 'identifier', /query or fragment/],
  ['a zero-width space', read({ identifier: 'docs/\u200bsecret.md' }), 'identifier', /invisible or bidi characters \(U\+200B\)/],
  ['a soft hyphen', read({ identifier: 'docs/se\u00adcret.md' }), 'identifier', /invisible or bidi characters \(U\+00AD\)/],
  ['a bidi override', read({ identifier: 'docs/\u202edm.a' }), 'identifier', /invisible or bidi characters \(U\+202E\)/],
  ['a bidi isolate', read({ identifier: 'docs/\u2066a.md\u2069' }), 'identifier', /invisible or bidi characters \(U\+2066\)/],
  ['a control character', read({ identifier: 'docs/a\u001b[2K.md' }), 'identifier', /control characters \(U\+001B\)/],
  ['a .. segment with a path parameter', read({ identifier: 'docs/..;/secrets/prod.env' }), 'identifier', /\. or \.\. segments \(also before a ;\)/],
  ['a . segment with a path parameter', read({ identifier: 'docs/.;v=1/a.md' }), 'identifier', /\. or \.\. segments/],
  ['overlong UTF-8 dots', read({ identifier: 'docs/%c0%ae%c0%ae/secrets' }), 'identifier', /valid UTF-8 \(found %c0%ae%c0%ae\)/],
  ['an overlong UTF-8 slash', read({ identifier: 'docs/..%c0%afsecrets' }), 'identifier', /valid UTF-8 \(found %c0%af\)/],
  ['IIS %u-encoded dots', read({ identifier: 'docs/%u002e%u002e/secrets' }), 'identifier', /%XX with two hex digits \(found %u0\)/],
  ['a stray percent sign', read({ identifier: 'docs/100%.md' }), 'identifier', /%XX with two hex digits/],
  ['a two-dot leader', read({ identifier: 'docs/\u2025/secrets' }), 'identifier', /compatibility characters \(U\+2025, which normalises to "\.\."\)/],
  ['fullwidth full stops', read({ identifier: 'docs/\uff0e\uff0e/secrets' }), 'identifier', /compatibility characters \(U\+FF0E/],
  ['fullwidth solidi', read({ identifier: 'docs/x\uff0f..\uff0f..\uff0fsecrets' }), 'identifier', /compatibility characters \(U\+FF0F/],
  ['a percent-encoded two-dot leader', read({ identifier: 'docs/%e2%80%a5/secrets' }), 'identifier', /compatibility characters \(U\+2025.*once percent-decoded/],
  ['a percent-encoded path parameter after dots', read({ identifier: 'docs/..%3b/secrets' }), 'identifier', /segments .*once percent-decoded/],
  ['a percent-encoded zero-width space', read({ identifier: 'docs/%e2%80%8bsecret.md' }), 'identifier', /invisible or bidi characters \(U\+200B\) \(once percent-decoded\)/],
  ['a location .. segment', read({ locations: ['https://git.example.com/acme/..'] }), 'locations[0]', /\. or \.\. segments/],
  ['a location with encoded dots', read({ locations: ['https://git.example.com/acme/%2e%2e'] }), 'locations[0]', /percent-encode/],
  ['a location with a query', read({ locations: ['https://git.example.com/acme/app?admin=1'] }), 'locations[0]', /query or fragment/],
  ['a location with a fragment', read({ locations: ['https://git.example.com/acme/app#x'] }), 'locations[0]', /query or fragment/],
  ['a location with a backslash', read({ locations: ['https://git.example.com/acme/app\\..'] }), 'locations[0]', /backslashes/],
  ['a location with userinfo', read({ locations: ['https://git.example.com@evil.example/acme/app'] }), 'locations[0]', /userinfo/],
  ['a location .. segment with a path parameter', read({ locations: ['https://git.example.com/acme/..;'] }), 'locations[0]', /\. or \.\. segments/],
  ['a location with fullwidth full stops', read({ locations: ['https://git.example.com/acme/\uff0e\uff0e'] }), 'locations[0]', /compatibility characters/],
  ['a location with overlong UTF-8 dots', read({ locations: ['https://git.example.com/acme/%c0%ae%c0%ae'] }), 'locations[0]', /valid UTF-8/],
  ['a location with IIS %u-encoded dots', read({ locations: ['https://git.example.com/acme/%u002e%u002e'] }), 'locations[0]', /%XX with two hex digits/],
  ['a location with a zero-width joiner', read({ locations: ['https://git.example.com/acme/a\u200dpp'] }), 'locations[0]', /invisible/],
  ['an action with a bidi control', read({ actions: ['read\u200f'] }), 'actions[0]', /invisible or bidi/],
  ['an action with an escape sequence', read({ actions: ['read\u001b[1A'] }), 'actions[0]', /control characters/],
  ['a hidden character in a type-specific field', read({ note: ['ok', 'x\u2028y'] }), 'note[1]', /invisible or bidi/],
]

describe('grants cannot be wider than they look: refused at issuance, naming the field', () => {
  it.each(WIDER)('refuses %s on POST /v1/tokens, and records nothing', async (_name, grant, field, problem) => {
    const before = await broker.store.grants.countLiveGrants('agent-a')
    const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest({ grants: [grant] })), basic: A })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toBe('invalid_request')
    expect(body.access_token).toBeUndefined()
    expect(body.error_description).toMatch(new RegExp(`grants\\[0\\]\\.${field.replace(/[[\]]/g, '\\$&')}: `))
    expect(body.error_description).toMatch(problem)
    expect(await broker.store.grants.countLiveGrants('agent-a')).toBe(before)
  })

  it.each(WIDER)('refuses %s on POST /oauth/token (authorization_details), and records nothing', async (_name, grant, field, problem) => {
    const before = await broker.store.grants.countLiveGrants('agent-a')
    const res = await broker.call('POST', '/oauth/token', {
      ...form({ grant_type: 'client_credentials', task_id: 'JIRA-4711', authorization_details: JSON.stringify([grant]) }),
      basic: A,
    })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toBe('invalid_authorization_details')
    expect(body.access_token).toBeUndefined()
    expect(body.error_description).toMatch(new RegExp(`authorization_details\\[0\\]\\.${field.replace(/[[\]]/g, '\\$&')}: `))
    expect(body.error_description).toMatch(problem)
    expect(await broker.store.grants.countLiveGrants('agent-a')).toBe(before)
  })

  it.each([
    ['an escape sequence in the task id', { task: { id: 'T-1\u001b[1A\u001b[2K' } }, 'task.id', /control characters/],
    ['a bidi override in the task id', { task: { id: 'T-\u202e1' } }, 'task.id', /invisible or bidi/],
    ['a zero-width space in the purpose', { task: { id: 'T-1', purpose: 'read\u200b docs' } }, 'task.purpose', /invisible/],
  ])('refuses %s', async (_name, overrides, field, problem) => {
    const before = await broker.store.grants.countLiveGrants('agent-a')
    const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest(overrides)), basic: A })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error_description).toContain(`${field}: `)
    expect(body.error_description).toMatch(problem)
    expect(await broker.store.grants.countLiveGrants('agent-a')).toBe(before)
  })

  it('still issues plain identifiers, globs, dots inside names, ; parameters and UTF-8 escapes', async () => {
    for (const identifier of [
      'docs/guide.md',
      'docs/**',
      'docs/.well-known/a.md',
      'docs/v1..2/a.md',
      'docs/a b.md',
      'docs/report;v=2.md',
      'docs/..a;b.md',
      'docs/caf\u00e9.md',
      'docs/caf%C3%A9.md',
      'docs/a%20b.md',
    ]) {
      const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest({ grants: [read({ identifier })] })), basic: A })
      expect(res.status, identifier).toBe(200)
    }
  })
})
