import type { Context } from 'hono'
import { z } from 'zod'
import { ROLE_ARN } from '../../credentials/aws/index.js'
import { checkResourceDpop } from '../../dpop/check-resource-dpop.js'
import { invalidRequest, WritError } from '../../errors.js'
import { inspectToken } from '../../grants/inspect-token.js'
import { assertUnlocked } from '../../locks/assert-unlocked.js'
import { lockTargetsOf } from '../../locks/types.js'
import { describeJsonSyntaxError } from '../../manifest/describe-json-syntax-error.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import { readBody } from '../body.js'
import type { AppDeps } from '../deps.js'
import { mediaType } from '../form.js'

const PATH = '/v1/credentials/aws'
/** RFC 6750 §2.1 b64token after the scheme. */
const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i

const bodySchema = z.strictObject(
  {
    role_arn: z
      .string()
      .max(2048)
      .regex(ROLE_ARN, {
        error: 'expected an IAM role ARN like arn:aws:iam::123456789012:role/name',
      }),
    duration_seconds: z
      .number()
      .int()
      .min(900, { error: "must be at least 900 (AWS's minimum session length)" })
      .max(43_200)
      .optional(),
  },
  {
    error: (i) =>
      i.code === 'invalid_type'
        ? 'body: expected a JSON object { role_arn, duration_seconds? }'
        : undefined,
  },
)

const unauthorized = (message: string): WritError => new WritError('invalid_token', 401, message)

/**
 * `POST /v1/credentials/aws`: AWS temporary credentials for a live writ token whose grants cover
 * the role. `Authorization: Bearer <token>`, or `DPoP <token>` with a `DPoP` proof for a
 * DPoP-bound token (RFC 9449 §7). Body `{ role_arn, duration_seconds? }`. 404 when the broker has
 * no `aws` configuration.
 */
export function awsCredentialsRoute(deps: AppDeps) {
  const url = `${deps.config.issuer}${PATH}`
  return async (c: Context): Promise<Response> => {
    if (!deps.aws) {
      const message = 'AWS credential vending is not configured on this broker'
      throw new WritError('not_found', 404, message)
    }
    const aws = deps.aws

    // Ensure the caller presents exactly one access token, in a scheme we understand.
    const match = AUTHORIZATION.exec(c.req.header('authorization') ?? '')
    if (!match) {
      throw unauthorized('Authorization: expected Bearer <writ access token> (or DPoP <token>)')
    }
    const scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'
    const token = match[2]!

    // Ensure the token is ours, unexpired, and its grant live (not revoked).
    const inspected = await inspectToken(deps.issue, token)
    if (!inspected.active && inspected.forged) {
      // A valid signature on claims we never issued: one of the signing keys is in other hands.
      deps.logger.warn('token with claims not issued for its grant (is a signing key stolen?)', {
        grantId: inspected.claims?.jti,
        clientId: inspected.claims?.client_id,
      })
    }
    if (!inspected.active) {
      throw unauthorized('the access token is not active (expired, revoked or not issued here)')
    }
    const { grant } = inspected.state
    // Ensure a locked client, task or approver gets no cloud credentials, even on a live token
    // (a lock set with `revoke: false` leaves its tokens live).
    const approvers = grant.approval?.approvers.map((a) => a.sub)
    await assertUnlocked(deps.store.locks, lockTargetsOf({ clientId: grant.clientId, taskId: grant.task.id, approvers }))

    // Ensure the token's DPoP binding holds, as writ/verifier checks it: a bound token only with
    // the DPoP scheme and a fresh proof by its key for this request and token, used once.
    await checkResourceDpop(
      {
        token,
        cnfJkt: grant.cnfJkt,
        scheme,
        proof: c.req.header('dpop'),
        method: 'POST',
        url,
      },
      { store: deps.once, clock: deps.clock, proofMaxAgeSeconds: deps.config.dpop.proofMaxAgeSeconds },
    )

    const type = mediaType(c)
    if (type !== 'application/json') {
      throw invalidRequest(`content-type must be application/json${type ? ` (got ${type})` : ''}`)
    }
    const text = await readBody(c, deps.config.limits.bodyBytes)
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      throw invalidRequest(`body is not valid JSON: ${describeJsonSyntaxError(text)}`)
    }
    const parsed = bodySchema.safeParse(value, { error: friendlyErrors })
    if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))

    const credentials = await aws.vend({
      grant,
      roleArn: parsed.data.role_arn,
      ...(parsed.data.duration_seconds !== undefined
        ? { durationSeconds: parsed.data.duration_seconds }
        : {}),
    })
    deps.logger.info('aws credentials vended', {
      grantId: grant.id,
      clientId: grant.clientId,
      roleArn: credentials.role_arn,
      durationSeconds: credentials.duration_seconds,
      sourceIdentity: credentials.source_identity,
    })
    return c.json(credentials, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' })
  }
}
