import { describe, expect, it } from 'vitest'
import { selectAwsGrants } from '../../../src/credentials/aws/index.js'
import { WritError } from '../../../src/errors.js'
import { awsDetail, OTHER_ROLE, ROLE } from './fixtures.js'

const repo = { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'] }

function refusal(details: Parameters<typeof selectAwsGrants>[0]): WritError {
  try {
    selectAwsGrants(details, ROLE)
  } catch (err) {
    if (err instanceof WritError) return err
    throw err
  }
  throw new Error('expected a refusal')
}

describe('selectAwsGrants', () => {
  it('returns the aws grants for the role, in token order, and ignores every other grant', () => {
    const conditions = { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8'] } }
    const grants = selectAwsGrants(
      [repo, awsDetail({ actions: ['s3:GetObject'] }), awsDetail({}, OTHER_ROLE), awsDetail({ actions: ['s3:PutObject'], conditions })],
      ROLE,
    )
    expect(grants).toEqual([
      { index: 1, roleArn: ROLE, actions: ['s3:GetObject'], resources: awsDetail().resources },
      { index: 3, roleArn: ROLE, actions: ['s3:PutObject'], resources: awsDetail().resources, conditions },
    ])
  })

  it('finds nothing when no grant names the role', () => {
    expect(selectAwsGrants([repo, awsDetail({}, OTHER_ROLE)], ROLE)).toEqual([])
  })

  it('refuses a grant whose locations do not pin exactly its role_arn (the policy matched locations)', () => {
    for (const locations of [[OTHER_ROLE], [ROLE, OTHER_ROLE], ['arn:aws:iam::123456789012:role/*']]) {
      const err = refusal([awsDetail({ locations })])
      expect(err.status).toBe(400)
      expect(err.message).toContain('authorization_details[0].locations: must be exactly [role_arn]')
    }
    expect(refusal([awsDetail({ locations: undefined })]).message).toContain('authorization_details[0].locations')
  })

  it.each([
    ['resources', { resources: undefined }, 'authorization_details[0].resources: required'],
    ['resources', { resources: [] }, 'authorization_details[0].resources'],
    ['a resource', { resources: ['s3://acme-docs'] }, 'authorization_details[0].resources[0]: expected a resource ARN'],
    ['a resource', { resources: ['arn:aws:s3:::docs/\u4e2d'] }, 'authorization_details[0].resources[0]'],
    ['an action', { actions: ['GetObject'] }, 'authorization_details[0].actions[0]: expected an IAM action'],
    ['conditions', { conditions: ['x'] }, 'authorization_details[0].conditions'],
    ['an operator', { conditions: { 'Bad Op': { 'aws:SourceIp': 'x' } } }, 'expected IAM condition operators'],
    ['a condition key', { conditions: { StringEquals: { nokey: 'x' } } }, 'conditions.StringEquals.nokey: expected condition keys'],
    ['a condition value', { conditions: { StringEquals: { 'aws:UserAgent': { nested: 1 } } } }, 'conditions.StringEquals.aws:UserAgent'],
    ['an unknown field', { resource: 'arn:aws:s3:::x' }, 'authorization_details[0].resource: not a field of aws grants'],
  ])('refuses a malformed grant, naming the field (%s)', (_what, overrides, message) => {
    const err = refusal([awsDetail(overrides)])
    expect(err.code).toBe('invalid_authorization_details')
    expect(err.status).toBe(400)
    expect(err.message).toContain(message)
  })

  it('refuses a grant that tries to set the expiry bound the broker adds', () => {
    const err = refusal([awsDetail({ conditions: { DateLessThan: { 'AWS:CurrentTime': '2099-01-01T00:00:00Z' } } })])
    expect(err.message).toContain('conditions.DateLessThan.AWS:CurrentTime: set by the broker')
  })

  it('does not match a role by pattern: a grant for writ-* does not cover writ-docs', () => {
    const pattern = 'arn:aws:iam::123456789012:role/writ-*'
    expect(selectAwsGrants([awsDetail({ role_arn: pattern, locations: [pattern] })], ROLE)).toEqual([])
  })
})
