export type {
  PolicyScope,
  ApproverGroup,
  ApproverWebhook,
  Policy,
  PolicyClient,
  PolicyRule,
  PublicJwk,
  RuleApproval,
  RuleMatch,
  RulePerson,
  ProvenPerson,
  TrustedIssuer,
} from './types.js'
export { personMeets, personClaimNames } from './person-meets.js'
export { PolicyError } from './types.js'
export { loadPolicy, loadPolicyFile } from './load-policy.js'
export type { LoadPolicyOptions } from './load-policy.js'
export { globMatch, patternCovers } from '../wire/glob.js'
export { matchRule } from './match-rule.js'
export type { RuleMatchResult } from './match-rule.js'
export { decide } from './decide.js'
export type { ApprovalRequirement, Decision, DecideLimits, GrantDecision } from './decide.js'
export { explain } from './explain.js'
export type { Explanation, GrantExplanation, RuleRejection } from './explain.js'
export { describeGrant } from './describe-grant.js'
export { expandScopes } from './expand-scopes.js'
export type { ExpandedScopes, ExpandScopesInput } from './expand-scopes.js'
