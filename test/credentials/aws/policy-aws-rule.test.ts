import { describe, expect, it } from 'vitest'
import { decide, loadPolicy, PolicyError } from '../../../src/policy/index.js'
import { HASH } from '../../policy/fixtures.js'
import { awsDetail, OTHER_ROLE, ROLE } from './fixtures.js'

const LIMITS = { maxTtlSeconds: 3600, defaultTtlSeconds: 900 }

const policyText = (match: string) => `
version: 1
clients:
  - { id: agent, auth: client_secret, secret_hash: "${HASH}", rules: [aws-docs] }
rules:
  - id: aws-docs
    match: ${match}
    max_ttl: 30m
    approval: none
`

describe('policy rules for aws grants', () => {
  it('refuses an aws rule that does not pin roles through locations', () => {
    let err: unknown
    try {
      loadPolicy(policyText('{ type: aws, actions: [s3:GetObject] }'))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(PolicyError)
    expect((err as PolicyError).problems).toContain(
      'rules[0].match.locations: required for type aws (the role ARNs the rule allows)',
    )
  })

  it('allows an aws grant for a pinned role and refuses one for another role or action', () => {
    const policy = loadPolicy(policyText(`{ type: aws, actions: [s3:GetObject, s3:ListBucket], locations: ["${ROLE}"] }`))
    const manifest = (grant: ReturnType<typeof awsDetail>) => ({ task: { id: 'T-1' }, grants: [grant] })
    expect(decide(policy, 'agent', manifest(awsDetail()), LIMITS).grants[0]!.ruleId).toBe('aws-docs')
    expect(() => decide(policy, 'agent', manifest(awsDetail({}, OTHER_ROLE)), LIMITS)).toThrow(/not allowed/)
    expect(() => decide(policy, 'agent', manifest(awsDetail({ actions: ['s3:PutObject'] })), LIMITS)).toThrow(/not allowed/)
    // role_arn alone is not what the policy matches: a grant must name its role in locations.
    expect(() => decide(policy, 'agent', manifest(awsDetail({ locations: undefined })), LIMITS)).toThrow(/not allowed/)
  })
})
