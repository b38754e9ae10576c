export type { AuthorizationDeps } from './deps.js'
export { CODE_TTL_SECONDS } from './deps.js'
export type { AuthorizationCode, AuthorizationRequest, ConsentChallenge } from './types.js'
export type { AuthorizationStore } from './store/store.js'
export { createAuthorizationStore } from './store/create-authorization-store.js'
export { createMemoryAuthorizationStore } from './store/memory-store.js'
export { createRedisAuthorizationStore } from './store/redis-store.js'
export { requestedGrants, type GrantParams, type RequestedGrants } from './requested-grants.js'
export { consentChallenge, type ConsentChallengeInput } from './consent-challenge.js'
export { startAuthorization, type AuthorizationParams, type AuthorizationStart } from './start-authorization.js'
export {
  declineAuthorization,
  findAuthorizationRequest,
  startConsent,
  submitConsent,
  type AuthorizationDecision,
} from './consent-ceremony.js'
export { redeemAuthorizationCode, type RedeemCodeInput } from './redeem-code.js'
