import { describe, expect, it } from 'vitest'
import { compileSessionPolicy, type AwsGrant } from '../../../src/credentials/aws/index.js'
import { ROLE } from './fixtures.js'

const NOT_AFTER = Date.UTC(2026, 0, 1, 12, 30, 0) / 1000

const grant = (overrides: Partial<AwsGrant> = {}): AwsGrant => ({
  index: 0,
  roleArn: ROLE,
  actions: ['s3:GetObject'],
  resources: ['arn:aws:s3:::acme-docs/*'],
  ...overrides,
})

describe('compileSessionPolicy', () => {
  it('allows exactly the grant actions on its resources, and nothing after the grant expires', () => {
    const policy = compileSessionPolicy([grant()], { notAfter: NOT_AFTER })
    expect(JSON.parse(policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['s3:GetObject'],
          Resource: ['arn:aws:s3:::acme-docs/*'],
          Condition: { DateLessThan: { 'aws:CurrentTime': '2026-01-01T12:30:00Z' } },
        },
      ],
    })
  })

  it('compiles one statement per grant and keeps each grant conditions with the expiry bound', () => {
    const policy = JSON.parse(
      compileSessionPolicy(
        [
          grant(),
          grant({
            index: 2,
            actions: ['s3:PutObject', 's3:DeleteObject'],
            resources: ['arn:aws:s3:::acme-docs/drafts/*'],
            conditions: {
              IpAddress: { 'aws:SourceIp': ['10.0.0.0/8'] },
              DateLessThan: { 'aws:EpochTime': 1767225600 },
            },
          }),
        ],
        { notAfter: NOT_AFTER },
      ),
    ) as { Statement: Array<Record<string, unknown>> }
    expect(policy.Statement).toHaveLength(2)
    expect(policy.Statement[1]).toEqual({
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:DeleteObject'],
      Resource: ['arn:aws:s3:::acme-docs/drafts/*'],
      Condition: {
        IpAddress: { 'aws:SourceIp': ['10.0.0.0/8'] },
        DateLessThan: { 'aws:EpochTime': 1767225600, 'aws:CurrentTime': '2026-01-01T12:30:00Z' },
      },
    })
    // Nothing is allowed that no grant named.
    const actions = policy.Statement.flatMap((s) => s.Action as string[])
    expect(actions).toEqual(['s3:GetObject', 's3:PutObject', 's3:DeleteObject'])
  })

  it('is minified JSON, the form AWS counts against its 2,048-character limit', () => {
    const policy = compileSessionPolicy([grant()], { notAfter: NOT_AFTER })
    expect(policy).toBe(JSON.stringify(JSON.parse(policy)))
    expect(policy).not.toMatch(/\s/)
  })

  it('refuses to compile a policy from no grants (it would be a blank session)', () => {
    expect(() => compileSessionPolicy([], { notAfter: NOT_AFTER })).toThrow(RangeError)
  })
})
