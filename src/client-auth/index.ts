export {
  createClientAuthenticator,
  type AuthenticatedClient,
  type ClientAuthenticator,
  type ClientAuthenticatorOptions,
  type ClientAuthRequest,
} from './authenticate-client.js'
export type { ClientAuthMethod, ClientRecord, GetClient } from './client-record.js'
export { generateSecret, hashSecret, verifySecret } from './hash-secret.js'
export { parseBasicAuth } from './parse-basic-auth.js'
export {
  ASSERTION_ALGORITHMS,
  JWT_BEARER_ASSERTION_TYPE,
} from './verify-client-assertion.js'
export { rateLimitClients } from './rate-limit-clients.js'
