import type { AwsGrant, IamConditions } from './types.js'

export interface CompileSessionPolicyOptions {
  /** Seconds since the epoch after which the session may do nothing: the grant's expiry. */
  notAfter: number
}

/** An IAM policy date: ISO 8601 UTC without milliseconds. */
export const iamDate = (epochSeconds: number): string =>
  new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')

/**
 * Compiles a token's aws grants for one role into an STS session policy: one `Allow` statement
 * per grant with exactly its actions and resources and its conditions, and nothing else. A session
 * policy only ever narrows the role's own permissions (the effective permissions are the
 * intersection), so the session can do what the grant says and what the role allows, no more.
 *
 * Every statement also carries `DateLessThan aws:CurrentTime <notAfter>`: AWS's 900-second
 * minimum can make a session outlive its grant, but it authorizes nothing past the grant's expiry.
 * The output is minified JSON (no whitespace outside strings), the form AWS's 2,048-character
 * session policy limit is checked against.
 *
 * @example
 * compileSessionPolicy([{ index: 0, roleArn, actions: ['s3:GetObject'],
 *   resources: ['arn:aws:s3:::docs/*'] }], { notAfter: 1767225600 })
 * // {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],
 * //  "Resource":["arn:aws:s3:::docs/*"],"Condition":{"DateLessThan":
 * //  {"aws:CurrentTime":"2026-01-01T00:00:00Z"}}}]}
 */
export function compileSessionPolicy(
  grants: readonly AwsGrant[],
  options: CompileSessionPolicyOptions,
): string {
  if (grants.length === 0) throw new RangeError('a session policy needs at least one grant')
  const until = iamDate(options.notAfter)
  const statements = grants.map((grant) => {
    const condition: IamConditions = {}
    for (const [operator, keys] of Object.entries(grant.conditions ?? {})) {
      condition[operator] = { ...keys }
    }
    // Ensure the session authorizes nothing after the grant expires, whatever its duration.
    condition.DateLessThan = { ...condition.DateLessThan, 'aws:CurrentTime': until }
    return {
      Effect: 'Allow',
      Action: [...grant.actions],
      Resource: [...grant.resources],
      Condition: condition,
    }
  })
  return JSON.stringify({ Version: '2012-10-17', Statement: statements })
}
