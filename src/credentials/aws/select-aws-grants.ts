import { z } from 'zod'
import { WritError } from '../../errors.js'
import type { AuthorizationDetail } from '../../manifest/types.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AwsGrant, IamConditions } from './types.js'

/**
 * An IAM role ARN: partition, 12-digit account, optional path, role name. No wildcards: a grant
 * names one role exactly.
 */
export const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/
/** `service:Action`, IAM's `*` and `?` wildcards allowed in the action part, or `*`. */
const ACTION = /^(?:\*|[A-Za-z0-9-]{1,64}:[A-Za-z0-9*?]{1,128})$/
/** IAM policy text is printable Latin-1 (AWS accepts U+0020–U+00FF besides tab and newlines). */
const POLICY_TEXT = /^[\u0020-\u007e\u00a0-\u00ff]*$/
const RESOURCE = /^(?:\*|arn:[\u0020-\u007e\u00a0-\u00ff]+)$/
const CONDITION_OPERATOR = /^(?:ForAllValues:|ForAnyValue:)?[A-Za-z]{1,64}$/
const CONDITION_KEY = /^[A-Za-z0-9-]{1,64}:[\u0021-\u007e]{1,256}$/

const FIELDS = new Set(['type', 'role_arn', 'locations', 'actions', 'resources', 'conditions'])

const typeError =
  (expected: string) =>
  (issue: { code?: string; input?: unknown }): string | undefined => {
    if (issue.code !== 'invalid_type') return undefined
    return issue.input === undefined ? 'required' : `expected ${expected}`
  }

const policyText = (max: number) =>
  z
    .string({ error: typeError('a string') })
    .max(max)
    .regex(POLICY_TEXT, { error: 'must be printable Latin-1 text (IAM policy characters)' })

const scalar = z.union([policyText(1024), z.number(), z.boolean()], {
  error: 'expected a string, number or boolean',
})

/** A record's error map: a bad key gets `message`, a wrong type the usual words. */
const recordError =
  (keyMessage: string, expected: string) =>
  (issue: { code?: string; input?: unknown }): string | undefined =>
    issue.code === 'invalid_key' ? keyMessage : typeError(expected)(issue)

const conditionsSchema = z
  .record(
    z.string().regex(CONDITION_OPERATOR),
    z.record(
      z.string().regex(CONDITION_KEY),
      z.union([scalar, z.array(scalar).min(1).max(100)], {
        error: 'expected a value or a list of 1 to 100 values',
      }),
      {
        error: recordError(
          'expected condition keys like aws:SourceIp',
          'an object of condition keys',
        ),
      },
    ),
    {
      error: recordError(
        'expected IAM condition operators like StringEquals',
        'an object of condition operators',
      ),
    },
  )
  .refine((c) => Object.keys(c).length <= 32, { error: 'at most 32 condition operators' })

const awsGrantSchema = z.object({
  type: z.literal('aws'),
  role_arn: z
    .string({ error: typeError('a string') })
    .max(2048)
    .regex(ROLE_ARN, {
      error: 'expected an IAM role ARN like arn:aws:iam::123456789012:role/name',
    }),
  locations: z.array(z.string(), { error: typeError('an array of strings') }),
  actions: z
    .array(
      z.string({ error: typeError('a string') }).regex(ACTION, {
        error: 'expected an IAM action like s3:GetObject',
      }),
      { error: typeError('an array of IAM actions') },
    )
    .min(1)
    .max(32),
  resources: z
    .array(
      z.string({ error: typeError('a string') }).max(2048).regex(RESOURCE, {
        error: 'expected a resource ARN (arn:...) or *, in printable Latin-1',
      }),
      { error: typeError('an array of resource ARNs') },
    )
    .min(1)
    .max(64),
  conditions: conditionsSchema.optional(),
})

const invalid = (message: string): WritError =>
  new WritError('invalid_authorization_details', 400, message)

/**
 * The token's `aws` grants that cover `roleArn`, validated. A grant covers a role when its
 * `role_arn` is that role exactly and its `locations` is exactly `[role_arn]`: the policy matched
 * the grant on `locations`, so the role a session is vended for is always one the policy allowed.
 * Grants for other roles and of other types are ignored.
 *
 * @returns the covering grants, in token order; empty when none covers the role.
 * @throws WritError `invalid_authorization_details` (400) naming the field of a covering grant
 *   that is not a well-formed aws grant: `authorization_details[2].resources[0]: expected ...`.
 */
export function selectAwsGrants(
  details: readonly AuthorizationDetail[],
  roleArn: string,
): AwsGrant[] {
  const selected: AwsGrant[] = []
  details.forEach((detail, index) => {
    if (detail.type !== 'aws' || detail.role_arn !== roleArn) return
    const at = `authorization_details[${index}]`
    // Ensure the grant says nothing writ would silently ignore (a misspelt `resource`, say).
    for (const field of Object.keys(detail)) {
      if (!FIELDS.has(field)) {
        const fields = 'role_arn, locations, actions, resources, conditions'
        throw invalid(`${at}.${field}: not a field of aws grants (${fields})`)
      }
    }
    const result = awsGrantSchema.safeParse(detail, { error: friendlyErrors })
    if (!result.success) {
      const issues = result.error.issues.map((issue) => ({ ...issue, path: [at, ...issue.path] }))
      throw invalid(formatIssues(issues).join('; '))
    }
    const grant = result.data
    // Ensure the role is the one the policy matched: locations must be exactly [role_arn].
    if (grant.locations.length !== 1 || grant.locations[0] !== grant.role_arn) {
      throw invalid(
        `${at}.locations: must be exactly [role_arn] ` +
          "(the policy pins an aws grant's role through its locations)",
      )
    }
    const conditions = grant.conditions as IamConditions | undefined
    if (conditions) {
      for (const [operator, keys] of Object.entries(conditions)) {
        for (const key of Object.keys(keys)) {
          // Ensure the grant cannot override the expiry bound the broker adds to every statement.
          if (operator === 'DateLessThan' && key.toLowerCase() === 'aws:currenttime') {
            const where = `${at}.conditions.DateLessThan.${key}`
            throw invalid(`${where}: set by the broker (the grant's expiry)`)
          }
        }
      }
    }
    selected.push({
      index,
      roleArn: grant.role_arn,
      actions: grant.actions,
      resources: grant.resources,
      ...(conditions ? { conditions } : {}),
    })
  })
  return selected
}
