import {
  AssumeRoleCommand,
  MalformedPolicyDocumentException,
  PackedPolicyTooLargeException,
  type STSClient,
} from '@aws-sdk/client-sts'
import { type Clock, epochSeconds } from '../../clock.js'
import { accessDenied, invalidRequest, WritError } from '../../errors.js'
import type { Grant } from '../../grants/grant.js'
import { endedAncestor } from '../../grants/inspect-token.js'
import type { GrantStore } from '../../grants/store.js'
import { type AssumeRoleParams, checkAssumeRoleLimits } from './check-assume-role-limits.js'
import { compileSessionPolicy, iamDate } from './compile-session-policy.js'
import { selectAwsGrants } from './select-aws-grants.js'
import { sessionDurationSeconds } from './session-duration.js'
import type { AwsSessionRecord } from './session-record.js'
import type { AwsSettings } from './types.js'

/** Session tag keys writ sets on every session it vends. */
export const SESSION_TAG_KEYS = {
  task: 'writ:task',
  client: 'writ:client',
  grant: 'writ:grant',
} as const

export interface VendAwsCredentialsDeps {
  sts: STSClient
  record: AwsSessionRecord
  /** Re-checks the grant after AssumeRole, so a revocation racing the call returns nothing. */
  store: Pick<GrantStore, 'getGrant'>
  settings: Pick<AwsSettings, 'roles' | 'roleChaining'>
  clock: Clock
}

export interface VendAwsCredentialsRequest {
  /** The live grant of the presented token (already verified and looked up). */
  grant: Grant
  roleArn: string
  /** Asked-for session length; at least 900 (AWS's minimum), never beyond the grant's life. */
  durationSeconds?: number
}

/**
 * The answer: AWS's `credential_process` format (`Version`, `AccessKeyId`, `SecretAccessKey`,
 * `SessionToken`, `Expiration`), so the AWS CLI and SDKs can use it as is, plus what writ did.
 */
export interface AwsCredentialsResponse {
  Version: 1
  AccessKeyId: string
  SecretAccessKey: string
  SessionToken: string
  /** When the AWS session expires (ISO 8601). */
  Expiration: string
  role_arn: string
  /** `arn:aws:sts::<account>:assumed-role/<role>/<grant id>` */
  assumed_role_arn: string
  /** The RoleSessionName: the grant id. */
  session_name: string
  source_identity: string
  duration_seconds: number
  grant_id: string
  /** The session policy allows nothing after this (ISO 8601): the grant's expiry. */
  permissions_expire_at: string
}

/**
 * Vends AWS credentials for a live grant: STS AssumeRole on `roleArn` with a session policy
 * compiled from the grant's aws grants for that role, `DurationSeconds` from the grant's remaining
 * life (see sessionDurationSeconds), `RoleSessionName` = the grant id, `SourceIdentity` = the first
 * approving human or else the client id, session tags `writ:task`, `writ:client`, `writ:grant`, and
 * the role's `ExternalId` when configured.
 *
 * The order is the security argument: the grant must cover the role (403 otherwise) and the role
 * must be configured (403); every AWS limit is checked (400 naming the field); the session is
 * recorded before STS is called, so a revocation that happens meanwhile finds it and cuts it; and
 * after AssumeRole the grant is looked up again, so credentials vended for a grant revoked during
 * the call are never returned (401).
 *
 * @throws WritError `access_denied` (403), `invalid_request` / `invalid_authorization_details`
 *   (400), `invalid_token` (401, revoked during the call), `temporarily_unavailable` (503: STS or
 *   the record unreachable), `server_error` (502: STS refused, e.g. the role's trust policy).
 */
export async function vendAwsCredentials(
  deps: VendAwsCredentialsDeps,
  request: VendAwsCredentialsRequest,
): Promise<AwsCredentialsResponse> {
  const { grant, roleArn } = request
  const now = epochSeconds(deps.clock)

  // Ensure the token's grants cover this role: an aws grant naming it, pinned by the policy.
  const grants = selectAwsGrants(grant.authorizationDetails, roleArn)
  if (grants.length === 0) {
    throw accessDenied(`role_arn: no aws grant of this token covers ${roleArn}`)
  }
  // Ensure the broker vends sessions only for roles its operator configured.
  const role = deps.settings.roles.find((r) => r.arn === roleArn)
  if (!role) throw accessDenied(`role_arn: ${roleArn} is not a role this broker vends sessions for`)

  const approver = grant.approval?.approvers[0]?.sub
  const params: AssumeRoleParams = {
    RoleArn: roleArn,
    RoleSessionName: grant.id,
    Policy: compileSessionPolicy(grants, { notAfter: grant.expiresAt }),
    DurationSeconds: sessionDurationSeconds({
      remainingSeconds: grant.expiresAt - now,
      ...(request.durationSeconds !== undefined
        ? { requestedSeconds: request.durationSeconds }
        : {}),
      roleMaxSeconds: role.maxSessionSeconds,
      roleChaining: deps.settings.roleChaining,
    }),
    SourceIdentity: approver ?? grant.clientId,
    Tags: [
      { Key: SESSION_TAG_KEYS.task, Value: grant.task.id },
      { Key: SESSION_TAG_KEYS.client, Value: grant.clientId },
      { Key: SESSION_TAG_KEYS.grant, Value: grant.id },
    ],
    ...(role.externalId !== undefined ? { ExternalId: role.externalId } : {}),
  }
  // Ensure AWS would accept every parameter; moto would not tell.
  checkAssumeRoleLimits(params, {
    RoleSessionName: 'the grant id',
    SourceIdentity: approver !== undefined ? 'the approver' : 'the client id',
    [SESSION_TAG_KEYS.task]: 'task.id',
    [SESSION_TAG_KEYS.client]: 'the client id',
  })

  // Ensure a revocation racing this call finds the session: record it before it exists.
  await deps.record.recordSession({
    grantId: grant.id,
    clientId: grant.clientId,
    roleArn,
    expiresAt: now + params.DurationSeconds,
  })

  let output
  try {
    output = await deps.sts.send(new AssumeRoleCommand(params))
  } catch (err) {
    throw stsError(err)
  }
  const credentials = output.Credentials
  if (
    !credentials?.AccessKeyId ||
    !credentials.SecretAccessKey ||
    !credentials.SessionToken ||
    !credentials.Expiration
  ) {
    throw new WritError('server_error', 502, 'AWS STS answered without credentials', {
      detail: 'AssumeRole response lacked Credentials',
    })
  }

  // Ensure the grant (and, for a delegated one, every grant above it) was not revoked while STS
  // worked: if it was, nothing leaves the broker.
  const after = await deps.store.getGrant(grant.clientId, grant.id)
  if (after.state !== 'live' || (await endedAncestor(deps.store, grant))) {
    const message = 'the token was revoked while AWS credentials were issued; none are returned'
    throw new WritError('invalid_token', 401, message)
  }

  return {
    Version: 1,
    AccessKeyId: credentials.AccessKeyId,
    SecretAccessKey: credentials.SecretAccessKey,
    SessionToken: credentials.SessionToken,
    Expiration: credentials.Expiration.toISOString(),
    role_arn: roleArn,
    assumed_role_arn: output.AssumedRoleUser?.Arn ?? '',
    session_name: params.RoleSessionName,
    source_identity: params.SourceIdentity,
    duration_seconds: params.DurationSeconds,
    grant_id: grant.id,
    permissions_expire_at: iamDate(grant.expiresAt),
  }
}

/** Maps an STS failure: what the caller can fix is a 400; outages 503; refusals 502. */
function stsError(err: unknown): WritError {
  const message = err instanceof Error ? err.message : String(err)
  if (err instanceof PackedPolicyTooLargeException) {
    return invalidRequest(
      'Policy and Tags: AWS found the packed session policy and tags too large; ' +
        'ask for fewer actions, resources or conditions',
      message,
    )
  }
  if (err instanceof MalformedPolicyDocumentException) {
    const reason = message.slice(0, 300)
    const what = 'Policy: AWS refused the session policy compiled from the grants'
    return invalidRequest(`${what}: ${reason}`, message)
  }
  const meta = err as {
    $fault?: string
    $retryable?: unknown
    $metadata?: { httpStatusCode?: number }
  }
  const status = meta.$metadata?.httpStatusCode
  if (meta.$fault === 'server' || meta.$retryable || status === undefined || status >= 500) {
    return new WritError('temporarily_unavailable', 503, 'AWS STS is unavailable; retry shortly', {
      cause: err,
      detail: message,
      retryAfterSeconds: 2,
    })
  }
  return new WritError('server_error', 502, 'AWS STS refused to issue the session', {
    cause: err,
    detail: message,
  })
}
