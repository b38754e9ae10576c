export type {
  AwsGrant,
  AwsRoleSettings,
  AwsSettings,
  IamConditions,
  IamConditionValue,
} from './types.js'
export { selectAwsGrants, ROLE_ARN } from './select-aws-grants.js'
export {
  compileSessionPolicy,
  iamDate,
  type CompileSessionPolicyOptions,
} from './compile-session-policy.js'
export {
  AWS_LIMITS,
  checkAssumeRoleLimits,
  minifiedPolicyLength,
  type AssumeRoleParams,
  type LimitHints,
} from './check-assume-role-limits.js'
export { sessionDurationSeconds, type SessionDurationInput } from './session-duration.js'
export type {
  AwsSessionRecord,
  DeniedSession,
  DenyEntries,
  IssueTimeCutoff,
  RoleDenyState,
  VendedSession,
} from './session-record.js'
export { createMemorySessionRecord } from './memory-session-record.js'
export { createRedisSessionRecord, type RedisSessionRecordOptions } from './redis-session-record.js'
export { CLIENT_TAG_CONDITION_KEY, compileDenyPolicy } from './compile-deny-policy.js'
export { denyPolicyVersion } from './deny-policy-version.js'
export {
  CLIENT_BUDGET_SHARES,
  createAwsSessionRevoker,
  CUTOFF_SKEW_SECONDS,
  MIN_CLIENT_SHARE_CHARS,
  type AwsSessionRevoker,
  type AwsSessionRevokerDeps,
} from './aws-session-revoker.js'
export {
  SESSION_TAG_KEYS,
  vendAwsCredentials,
  type AwsCredentialsResponse,
  type VendAwsCredentialsDeps,
  type VendAwsCredentialsRequest,
} from './vend-aws-credentials.js'
export {
  createAwsClients,
  type AwsClients,
  type AwsClientsOptions,
  type AwsCredentials,
} from './create-aws-clients.js'
export { createAwsVending, type AwsVending, type AwsVendingOptions } from './create-aws-vending.js'
export { validateAwsGrants } from './validate-aws-grants.js'
