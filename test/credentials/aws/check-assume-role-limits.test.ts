import { describe, expect, it } from 'vitest'
import {
  AWS_LIMITS,
  checkAssumeRoleLimits,
  minifiedPolicyLength,
  type AssumeRoleParams,
} from '../../../src/credentials/aws/index.js'
import { WritError } from '../../../src/errors.js'
import { ROLE } from './fixtures.js'

const valid = (): AssumeRoleParams => ({
  RoleArn: ROLE,
  RoleSessionName: 'Yp3xq_-Z0aB1c2D3e4F5gA',
  Policy: '{"Version":"2012-10-17","Statement":[]}',
  DurationSeconds: 900,
  SourceIdentity: 'carol@example.com',
  Tags: [
    { Key: 'writ:task', Value: 'JIRA-4711' },
    { Key: 'writ:client', Value: 'demo-agent' },
    { Key: 'writ:grant', Value: 'Yp3xq_-Z0aB1c2D3e4F5gA' },
  ],
  ExternalId: 'writ-ext-1',
})

function refusal(params: AssumeRoleParams, hints = {}): WritError {
  try {
    checkAssumeRoleLimits(params, hints)
  } catch (err) {
    if (err instanceof WritError) return err
    throw err
  }
  throw new Error('expected a refusal')
}

/** A policy of exactly `chars` characters, minified. */
function policyOf(chars: number): string {
  const shell = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::"}]}'
  const filler = 'a'.repeat(chars - shell.length)
  const policy = shell.replace('arn:aws:s3:::', `arn:aws:s3:::${filler}`)
  expect(policy.length).toBe(chars)
  return policy
}

const tags = (n: number) => Array.from({ length: n }, (_, i) => ({ Key: `k${i}`, Value: `v${i}` }))

describe('checkAssumeRoleLimits', () => {
  it('accepts parameters within every limit, at the edges', () => {
    expect(() => checkAssumeRoleLimits(valid())).not.toThrow()
    const edge: AssumeRoleParams = {
      ...valid(),
      RoleSessionName: 'a'.repeat(64),
      SourceIdentity: 'ab',
      Policy: policyOf(AWS_LIMITS.policyChars),
      DurationSeconds: 43_200,
      Tags: [...tags(49), { Key: 'k'.repeat(128), Value: 'v'.repeat(256) }],
      ExternalId: 'x'.repeat(1224),
    }
    expect(() => checkAssumeRoleLimits(edge)).not.toThrow()
    expect(() => checkAssumeRoleLimits({ ...valid(), Tags: [{ Key: 'Ünïcode Schlüssel', Value: '' }] })).not.toThrow()
  })

  it.each<[string, Partial<AssumeRoleParams>, string]>([
    ['a role ARN that is not one', { RoleArn: 'arn:aws:s3:::bucket' }, 'role_arn:'],
    ['a role ARN with a wildcard', { RoleArn: 'arn:aws:iam::123456789012:role/*' }, 'role_arn:'],
    ['a session name too short', { RoleSessionName: 'a' }, 'RoleSessionName "a"'],
    ['a session name too long', { RoleSessionName: 'a'.repeat(65) }, 'RoleSessionName'],
    ['a session name with a space', { RoleSessionName: 'a b' }, 'RoleSessionName "a b"'],
    ['a source identity with a colon', { SourceIdentity: 'agent:x' }, 'SourceIdentity "agent:x"'],
    ['a source identity starting aws:', { SourceIdentity: 'aws:me' }, 'SourceIdentity'],
    ['a source identity too long', { SourceIdentity: 'a'.repeat(65) }, 'SourceIdentity'],
    ['a source identity too short', { SourceIdentity: 'a' }, 'SourceIdentity'],
    ['a policy over 2,048 characters', { Policy: policyOf(2049) }, '2049 characters, more than AWS\'s 2048'],
    ['a policy outside Latin-1', { Policy: '{"Resource":"arn:aws:s3:::\u4e2d"}' }, 'outside U+0020–U+00FF'],
    ['a policy that is not JSON', { Policy: '{"Version"' }, 'not valid JSON'],
    ['a duration under 900', { DurationSeconds: 899 }, 'DurationSeconds: 899'],
    ['a duration over 43,200', { DurationSeconds: 43_201 }, 'DurationSeconds'],
    ['a fractional duration', { DurationSeconds: 1000.5 }, 'DurationSeconds'],
    ['51 tags', { Tags: tags(51) }, 'Tags: 51 session tags'],
    ['an empty tag key', { Tags: [{ Key: '', Value: 'v' }] }, 'key must be 1 to 128'],
    ['a tag key over 128', { Tags: [{ Key: 'k'.repeat(129), Value: 'v' }] }, 'key must be 1 to 128 characters (got 129)'],
    ['a tag value over 256', { Tags: [{ Key: 'k', Value: 'v'.repeat(257) }] }, 'value must be at most 256 characters (got 257)'],
    ['a tag key with #', { Tags: [{ Key: 'a#b', Value: 'v' }] }, 'key has characters AWS does not allow'],
    ['a tag value with #', { Tags: [{ Key: 'k', Value: 'JIRA#1' }] }, 'value "JIRA#1" has characters'],
    ['a tag key starting aws:', { Tags: [{ Key: 'AWS:team', Value: 'v' }] }, 'reserved by AWS'],
    ['tag keys differing only in case', { Tags: [{ Key: 'Team', Value: 'a' }, { Key: 'team', Value: 'b' }] }, 'without case'],
    ['an external id too short', { ExternalId: 'x' }, 'ExternalId'],
    ['an external id with a space', { ExternalId: 'a b' }, 'ExternalId'],
  ])('refuses %s, naming the field', (_what, change, message) => {
    const err = refusal({ ...valid(), ...change })
    expect(err.code).toBe('invalid_request')
    expect(err.status).toBe(400)
    expect(err.message).toContain(message)
  })

  it('says where a refused value came from', () => {
    expect(refusal({ ...valid(), SourceIdentity: 'a:b' }, { SourceIdentity: 'the client id' }).message).toContain(
      'SourceIdentity "a:b" (the client id)',
    )
    const tagged = refusal({ ...valid(), Tags: [{ Key: 'writ:task', Value: 'T#1' }] }, { 'writ:task': 'task.id' })
    expect(tagged.message).toContain('Tags["writ:task"] (task.id)')
  })

  it('counts policy size without whitespace outside strings', () => {
    expect(minifiedPolicyLength('{ "Version" : "2012-10-17",\n  "Statement": [] }')).toBe(
      '{"Version":"2012-10-17","Statement":[]}'.length,
    )
    expect(minifiedPolicyLength('{"Resource": "a b"}')).toBe('{"Resource":"a b"}'.length)
  })
})
