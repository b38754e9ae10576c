import { describe, expect, it } from 'vitest'
import { loadPolicy } from '../../src/policy/load-policy.js'
import { personMeets } from '../../src/policy/person-meets.js'
import { PolicyError } from '../../src/policy/types.js'
import { HASH } from '../policy/fixtures.js'

const policy = (issuers: string, person = '') => `
version: 1
clients:
  - { id: agent, auth: client_secret, secret_hash: "${HASH}", rules: [docs-read] }
rules:
  - id: docs-read
    match: { type: repo, actions: [read], identifier: "docs/**" }
    max_ttl: 15m
    approval: none
${person}
${issuers}
`

const problems = (text: string): string[] => {
  try {
    loadPolicy(text)
    return []
  } catch (err) {
    if (err instanceof PolicyError) return err.problems
    throw err
  }
}

const idp = (extra = '') => `  - { issuer: "https://idp.example.com", jwks_uri: "https://idp.example.com/jwks", audience: writ${extra} }`

describe('issuers: in the policy (token exchange on behalf of a person)', () => {
  it('reads an issuer with secure defaults: RS256/ES256, 30 s of clock tolerance, sub as the person', () => {
    const loaded = loadPolicy(policy(`issuers:\n${idp()}`))
    expect(loaded.issuers!.get('https://idp.example.com')).toEqual({
      issuer: 'https://idp.example.com',
      jwksUri: 'https://idp.example.com/jwks',
      audience: ['writ'],
      algorithms: ['RS256', 'ES256'],
      clockToleranceSeconds: 30,
      subjectClaim: 'sub',
    })
    const custom = loadPolicy(policy(`issuers:\n${idp(', algorithms: [EdDSA], clock_tolerance: 5s, subject_claim: email')}`))
    expect(custom.issuers!.get('https://idp.example.com')).toMatchObject({ algorithms: ['EdDSA'], clockToleranceSeconds: 5, subjectClaim: 'email' })
  })

  it.each([
    ['HS256', `issuers:\n${idp(', algorithms: [HS256]')}`, /issuers\[0\]\.algorithms\[0\]: expected an asymmetric algorithm/],
    ['none', `issuers:\n${idp(', algorithms: [none]')}`, /none and HMAC are refused/],
    ['a plain http JWKS URI', 'issuers:\n  - { issuer: "https://idp.example.com", jwks_uri: "http://idp.example.com/jwks", audience: writ }', /issuers\[0\]\.jwks_uri: expected the issuer's JWKS URL: an https URL/],
    ['no audience', 'issuers:\n  - { issuer: "https://idp.example.com", jwks_uri: "https://idp.example.com/jwks" }', /issuers\[0\]\.audience: required/],
    ['a clock tolerance over 5 minutes', `issuers:\n${idp(', clock_tolerance: 1h')}`, /issuers\[0\]\.clock_tolerance: expected at most 5m/],
    ['the same issuer twice', `issuers:\n${idp()}\n${idp()}`, /issuers\[1\]\.issuer: duplicate issuer/],
  ])('refuses %s, naming the field', (_name, text, problem) => {
    expect(problems(policy(text)).join('\n')).toMatch(problem)
  })

  it('reads rule person conditions and refuses an empty one', () => {
    const loaded = loadPolicy(policy('', '    person: { subjects: [Alice@Example.com], claims: { groups: [eng, sre] } }'))
    const rule = loaded.ruleById.get('docs-read')!
    expect(rule.person).toEqual({ subjects: ['alice@example.com'], claims: { groups: ['eng', 'sre'] } })
    const person = (id: string, groups: string[]) => ({ id, issuer: 'https://idp.example.com', claims: { groups } })
    expect(personMeets(rule, person('alice@example.com', ['sre']))).toBe(true)
    expect(personMeets(rule, person('alice@example.com', ['sales']))).toBe(false)
    expect(personMeets(rule, person('bob@example.com', ['eng']))).toBe(false)
    expect(personMeets(rule, undefined)).toBe(false)
    expect(problems(policy('', '    person: {}')).join('\n')).toMatch(/rules\[0\]\.person: expected subjects or claims/)
  })
})

describe('explain and person conditions', () => {
  it('tells that a rule with person conditions matches only for a proven person who meets them', async () => {
    const { explain } = await import('../../src/policy/explain.js')
    const loaded = loadPolicy(policy('', '    person: { claims: { groups: [eng] } }'))
    const manifest = { task: { id: 'T' }, grants: [{ type: 'repo', actions: ['read'], identifier: 'docs/a' }] }
    const none = explain(loaded, 'agent', manifest)
    expect(none.grants[0]!.rule).toBeNull()
    expect(none.grants[0]!.rejected[0]!.reason).toMatch(/only requests made for a proven person/)
    const eng = explain(loaded, 'agent', manifest, { id: 'alice@example.com', issuer: 'https://idp.example.com', claims: { groups: ['eng'] } })
    expect(eng.grants[0]!.rule?.id).toBe('docs-read')
  })
})
