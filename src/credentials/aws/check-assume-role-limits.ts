import { invalidRequest } from '../../errors.js'
import { ROLE_ARN } from './select-aws-grants.js'

/** AWS STS limits (AssumeRole API reference and IAM quotas). moto enforces none of them. */
export const AWS_LIMITS = {
  /** Inline session policy, minified. */
  policyChars: 2048,
  sessionTags: 50,
  tagKeyChars: 128,
  tagValueChars: 256,
  minDurationSeconds: 900,
  maxDurationSeconds: 43_200,
  /** Role chaining: a session assumed with role credentials lasts at most one hour. */
  chainedMaxDurationSeconds: 3600,
} as const

/** The AssumeRole parameters writ sends, as the SDK names them. */
export interface AssumeRoleParams {
  RoleArn: string
  RoleSessionName: string
  Policy: string
  DurationSeconds: number
  SourceIdentity: string
  Tags: Array<{ Key: string; Value: string }>
  ExternalId?: string
}

/**
 * Where a value came from, for messages: `SourceIdentity "a:b" (the client id) ...`. Keyed by
 * `RoleSessionName`, `SourceIdentity` or a session tag's key.
 */
export type LimitHints = Readonly<Record<string, string>>

/** RoleSessionName and SourceIdentity: `[\w+=,.@-]`, 2 to 64 characters. */
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/
/** Session tag keys and values: letters, digits, spaces and `_ . : / = + - @` (any script). */
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u
/** Characters AWS accepts in policy text: tab, newlines, U+0020 to U+00FF. */
const POLICY_CHARS = /^[\u0009\u000a\u000d\u0020-\u00ff]+$/

const fail = (field: string, message: string) => invalidRequest(`${field}: ${message}`)
const POLICY = 'Policy (the session policy compiled from the grants)'
const TAG_CHARS = 'letters, digits, spaces and _ . : / = + - @'
const shown = (value: string): string =>
  JSON.stringify(value.length > 80 ? `${value.slice(0, 79)}…` : value)
const from = (hints: LimitHints, field: string): string =>
  hints[field] ? ` (${hints[field]})` : ''

/** The policy's length with whitespace outside strings removed (how AWS counts policy size). */
export function minifiedPolicyLength(policy: string): number {
  return JSON.stringify(JSON.parse(policy)).length
}

/**
 * Checks every AssumeRole parameter against AWS's limits before anything is sent, so a request
 * AWS would refuse fails here with a message naming the field (moto accepts all of them, so only
 * this check stands between a test run and a production failure):
 * RoleArn format; RoleSessionName and SourceIdentity `[\w+=,.@-]{2,64}`; the session policy at
 * most 2,048 characters minified and in AWS's character set; DurationSeconds 900–43,200; at most
 * 50 session tags, keys 1–128 and values 0–256 characters of letters, digits, spaces and
 * `_ . : / = + - @`, no `aws:` prefix, no two keys differing only in case; ExternalId 2–1,224
 * characters of `[\w+=,.@:/-]`.
 *
 * @throws WritError `invalid_request` (400): `SourceIdentity "agent:x" (the client id): AWS
 *   allows only letters, digits and _ + = , . @ - (2 to 64 characters)`.
 */
export function checkAssumeRoleLimits(params: AssumeRoleParams, hints: LimitHints = {}): void {
  const { RoleArn, RoleSessionName, Policy, DurationSeconds, SourceIdentity, Tags, ExternalId } =
    params

  // Ensure the role ARN is one STS accepts (20 to 2,048 characters, a role ARN).
  if (RoleArn.length < 20 || RoleArn.length > 2048 || !ROLE_ARN.test(RoleArn)) {
    const example = 'arn:aws:iam::123456789012:role/name'
    throw fail('role_arn', `${shown(RoleArn)} is not an IAM role ARN like ${example}`)
  }
  // Ensure the session name fits AWS's charset and length.
  if (!SESSION_NAME.test(RoleSessionName)) {
    throw fail(
      `RoleSessionName ${shown(RoleSessionName)}${from(hints, 'RoleSessionName')}`,
      'AWS allows only letters, digits and _ + = , . @ - (2 to 64 characters)',
    )
  }
  // Ensure the source identity fits AWS's charset and length (it cannot start with aws: then).
  if (!SESSION_NAME.test(SourceIdentity)) {
    throw fail(
      `SourceIdentity ${shown(SourceIdentity)}${from(hints, 'SourceIdentity')}`,
      'AWS allows only letters, digits and _ + = , . @ - (2 to 64 characters)',
    )
  }

  // Ensure the session policy is within AWS's character set and size.
  if (!POLICY_CHARS.test(Policy)) {
    throw fail(POLICY, 'has characters outside U+0020–U+00FF')
  }
  let length: number
  try {
    length = minifiedPolicyLength(Policy)
  } catch {
    throw fail(POLICY, 'is not valid JSON')
  }
  if (length > AWS_LIMITS.policyChars) {
    const max = AWS_LIMITS.policyChars
    throw fail(
      POLICY,
      `${length} characters, more than AWS's ${max}; ` +
        'ask for fewer actions, resources or conditions',
    )
  }

  // Ensure the duration is within what STS accepts at all.
  if (
    !Number.isSafeInteger(DurationSeconds) ||
    DurationSeconds < AWS_LIMITS.minDurationSeconds ||
    DurationSeconds > AWS_LIMITS.maxDurationSeconds
  ) {
    throw fail('DurationSeconds', `${DurationSeconds} is not a whole number from 900 to 43200`)
  }

  // Ensure the session tags are within AWS's count, length and charset limits.
  if (Tags.length > AWS_LIMITS.sessionTags) {
    throw fail('Tags', `${Tags.length} session tags, more than AWS's ${AWS_LIMITS.sessionTags}`)
  }
  const keys = new Map<string, string>()
  for (const { Key, Value } of Tags) {
    const field = `Tags[${shown(Key)}]${from(hints, Key)}`
    if (Key.length < 1 || Key.length > AWS_LIMITS.tagKeyChars) {
      throw fail(field, `key must be 1 to ${AWS_LIMITS.tagKeyChars} characters (got ${Key.length})`)
    }
    if (!TAG_TEXT.test(Key)) {
      throw fail(field, `key has characters AWS does not allow (${TAG_CHARS})`)
    }
    if (Key.toLowerCase().startsWith('aws:')) {
      throw fail(field, 'keys starting with aws: are reserved by AWS')
    }
    const previous = keys.get(Key.toLowerCase())
    if (previous !== undefined) {
      throw fail(field, `duplicates ${shown(previous)}: AWS compares session tag keys without case`)
    }
    keys.set(Key.toLowerCase(), Key)
    if (Value.length > AWS_LIMITS.tagValueChars) {
      const max = AWS_LIMITS.tagValueChars
      throw fail(field, `value must be at most ${max} characters (got ${Value.length})`)
    }
    if (!TAG_TEXT.test(Value)) {
      throw fail(field, `value ${shown(Value)} has characters AWS does not allow (${TAG_CHARS})`)
    }
  }

  // Ensure the external id fits AWS's charset and length.
  if (ExternalId !== undefined && !EXTERNAL_ID.test(ExternalId)) {
    const allowed = 'letters, digits and _ + = , . @ : / -'
    throw fail('ExternalId', `AWS allows 2 to 1224 characters of ${allowed}`)
  }
}
