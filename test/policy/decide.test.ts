import { describe, expect, it } from 'vitest'
import { WritError } from '../../src/errors.js'
import { decide } from '../../src/policy/decide.js'
import { loadPolicy } from '../../src/policy/load-policy.js'
import { HASH, deploy, docsRead, docsWrite, manifest, policy } from './fixtures.js'

const limits = { maxTtlSeconds: 3600, defaultTtlSeconds: 900 }

function denial(run: () => unknown): WritError {
  try {
    run()
  } catch (err) {
    if (err instanceof WritError) return err
    throw err
  }
  throw new Error('expected a WritError')
}

describe('decide', () => {
  it('grants covered grants without approval, naming the rule each matched', () => {
    const decision = decide(policy(), 'demo-agent', manifest([docsRead, docsWrite]), limits)
    expect(decision).toEqual({
      clientId: 'demo-agent',
      ttlSeconds: 300,
      grants: [
        { index: 0, ruleId: 'docs-read', approval: null },
        { index: 1, ruleId: 'docs-write', approval: null },
      ],
      approval: null,
      requireDpop: false,
    })
  })

  it('uses the first matching rule in file order, even when a later one also matches', () => {
    const ruleA = '  - { id: narrow, match: { type: repo, actions: [read], identifier: "docs/**" }, max_ttl: 5m, approval: none }\n'
    const ruleB = '  - { id: broad, match: { type: repo, actions: [read] }, max_ttl: 1h, approval: { approvers: 1, from: g } }\n'
    const text = (rules: string) => `version: 1
clients: [ { id: c, auth: client_secret, secret_hash: "${HASH}", rules: [broad, narrow] } ]
approver_groups: [ { id: g, members: [a@example.com] } ]
rules:
${rules}`
    const grant = { type: 'repo', actions: ['read'], identifier: 'docs/a.md' }
    const narrowFirst = decide(loadPolicy(text(ruleA + ruleB)), 'c', manifest([grant]), limits)
    expect(narrowFirst.grants).toEqual([{ index: 0, ruleId: 'narrow', approval: null }])
    expect(narrowFirst.ttlSeconds).toBe(300)
    // The client's own list order does not matter; the file order does.
    const broadFirst = decide(loadPolicy(text(ruleB + ruleA)), 'c', manifest([grant]), limits)
    expect(broadFirst.grants[0]?.ruleId).toBe('broad')
    expect(broadFirst.approval?.requirements).toHaveLength(1)
    expect(broadFirst.ttlSeconds).toBe(900)
  })

  it('falls through to a broader rule and collects its approval requirement', () => {
    const admin = { type: 'repo', actions: ['admin'], identifier: 'src/**' }
    const decision = decide(policy(), 'demo-agent', manifest([docsRead, admin, deploy, deploy]), limits)
    expect(decision.grants.map((g) => g.ruleId)).toEqual(['docs-read', 'repo-any', 'prod-deploy', 'prod-deploy'])
    expect(decision.approval).toEqual({
      requirements: [
        { ruleId: 'repo-any', approvers: 1, from: 'sre', requireDpop: false, forbidSelfApproval: true },
        { ruleId: 'prod-deploy', approvers: 2, from: 'release-managers', requireDpop: true, forbidSelfApproval: true },
      ],
    })
    expect(decision.grants[2]?.approval).toEqual(decision.approval?.requirements[1])
    expect(decision.requireDpop).toBe(true)
    expect(decision.ttlSeconds).toBe(600)
  })

  it('clamps the TTL to the requested value, each matched rule and the global maximum', () => {
    const p = policy()
    expect(decide(p, 'demo-agent', manifest([docsRead], 60), limits).ttlSeconds).toBe(60)
    expect(decide(p, 'demo-agent', manifest([docsRead], 3600), limits).ttlSeconds).toBe(900)
    expect(decide(p, 'demo-agent', manifest([docsRead]), { maxTtlSeconds: 3600, defaultTtlSeconds: 120 }).ttlSeconds).toBe(120)
    expect(decide(p, 'demo-agent', manifest([docsRead, docsWrite], 3600), limits).ttlSeconds).toBe(300)
    const admin = { type: 'repo', actions: ['admin'] }
    expect(decide(p, 'demo-agent', manifest([admin], 7200), limits).ttlSeconds).toBe(3600)
    expect(decide(p, 'demo-agent', manifest([admin], 7200), { maxTtlSeconds: 1800, defaultTtlSeconds: 900 }).ttlSeconds).toBe(1800)
  })

  it('denies a grant no usable rule covers, naming it', () => {
    const err = denial(() => decide(policy(), 'reader', manifest([docsRead, docsWrite]), limits))
    expect(err.code).toBe('access_denied')
    expect(err.status).toBe(403)
    expect(err.message).toBe(
      'grants[1] (repo write on https://git.example.com/acme/app docs/**) is not allowed for client reader by any rule it may use',
    )
  })

  it('denies a grant that only a rule the client may not use would cover', () => {
    // "unused" and "repo-any" cover any repo read, but reader may only use docs-read.
    const err = denial(() => decide(policy(), 'reader', manifest([{ type: 'repo', actions: ['read'], identifier: 'src/**' }]), limits))
    expect(err.message).toBe('grants[0] (repo read src/**) is not allowed for client reader by any rule it may use')
  })

  it('lists every denied grant when several are', () => {
    const err = denial(() => decide(policy(), 'reader', manifest([docsWrite, docsRead, deploy, deploy]), limits))
    expect(err.message).toBe(
      'grants[0] (repo write on https://git.example.com/acme/app docs/**) is not allowed for client reader by any rule it may use; also denied: grants[2], grants[3]',
    )
  })

  it('denies an unknown client', () => {
    const err = denial(() => decide(policy(), 'nobody', manifest([docsRead]), limits))
    expect(err.code).toBe('access_denied')
    expect(err.message).toBe('client nobody is not allowed by the policy')
  })

  it('denies everything when the client has no rules', () => {
    const p = loadPolicy(`version: 1\nclients: [ { id: idle, auth: client_secret, secret_hash: "${HASH}" } ]\n`)
    expect(denial(() => decide(p, 'idle', manifest([docsRead]), limits)).code).toBe('access_denied')
  })

  it('denies an empty manifest', () => {
    expect(denial(() => decide(policy(), 'demo-agent', manifest([]), limits)).code).toBe('access_denied')
  })
})
