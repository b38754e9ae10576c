import { describe, expect, it } from 'vitest'
import { explain } from '../../src/policy/explain.js'
import { deploy, docsRead, docsWrite, manifest, policy } from './fixtures.js'

describe('explain', () => {
  it('shows the deciding rule and what it needs for each grant', () => {
    const result = explain(policy(), 'demo-agent', manifest([docsRead, deploy]))
    expect(result.allowed).toBe(true)
    expect(result.clientKnown).toBe(true)
    expect(result.grants[0]).toEqual({
      index: 0,
      grant: 'repo read on https://git.example.com/acme/app docs/**',
      rule: { id: 'docs-read', maxTtlSeconds: 900, approval: null, requireDpop: false },
      rejected: [],
    })
    expect(result.grants[1]?.rule).toEqual({
      id: 'prod-deploy',
      maxTtlSeconds: 600,
      approval: { ruleId: 'prod-deploy', approvers: 2, from: 'release-managers', requireDpop: true, forbidSelfApproval: true },
      requireDpop: true,
    })
    expect(result.grants[1]?.rejected).toEqual([
      { ruleId: 'docs-read', reason: 'type deploy is not repo' },
      { ruleId: 'docs-write', reason: 'type deploy is not repo' },
    ])
    expect(result.maxTtlSeconds).toBe(600)
    expect(result.approvals.map((a) => a.ruleId)).toEqual(['prod-deploy'])
    expect(result.requireDpop).toBe(true)
  })

  it('explains why every rule failed for a denied grant, without throwing', () => {
    const result = explain(policy(), 'reader', manifest([{ ...docsWrite, identifier: 'src/**' }]))
    expect(result.allowed).toBe(false)
    expect(result.maxTtlSeconds).toBeNull()
    expect(result.grants[0]?.rule).toBeNull()
    expect(result.grants[0]?.rejected).toEqual([
      { ruleId: 'docs-read', reason: 'action write not in [read]' },
      { ruleId: 'docs-write', reason: 'client reader may not use this rule; also identifier src/** not covered by docs/**' },
      { ruleId: 'prod-deploy', reason: 'client reader may not use this rule; also type repo is not deploy' },
      { ruleId: 'repo-any', reason: 'client reader may not use this rule (it would match otherwise)' },
      { ruleId: 'unused', reason: 'client reader may not use this rule; also action write not in [read]' },
    ])
  })

  it('reports location and identifier mismatches', () => {
    const result = explain(policy(), 'reader', manifest([{ ...docsRead, locations: ['https://evil.example.com/'] }, { ...docsRead, identifier: 'docs' }]))
    expect(result.grants[0]?.rejected[0]).toEqual({
      ruleId: 'docs-read',
      reason: 'location https://evil.example.com/ not covered by [https://git.example.com/acme/*]',
    })
    expect(result.grants[1]?.rejected[0]).toEqual({ ruleId: 'docs-read', reason: 'identifier docs not covered by docs/**' })
  })

  it('ignores client rule lists when no client is given', () => {
    const result = explain(policy(), undefined, manifest([{ type: 'repo', actions: ['read'], identifier: 'src/**' }]))
    expect(result.clientKnown).toBe(true)
    expect(result.clientId).toBeUndefined()
    expect(result.grants[0]?.rule?.id).toBe('repo-any')
  })

  it('reports an unknown client and allows nothing', () => {
    const result = explain(policy(), 'ghost', manifest([docsRead]))
    expect(result.clientKnown).toBe(false)
    expect(result.allowed).toBe(false)
    expect(result.grants[0]?.rejected[0]).toEqual({
      ruleId: 'docs-read',
      reason: 'client ghost is not in the policy (it would match otherwise)',
    })
  })
})
