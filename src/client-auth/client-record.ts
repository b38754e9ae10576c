import type { JWK } from 'jose'

/** A registered client as client authentication needs it (the policy file declares clients). */
export interface ClientRecord {
  id: string
  auth: 'client_secret' | 'private_key_jwt'
  /** PHC argon2id hash of the secret, for `client_secret`. */
  secretHash?: string
  /** The client's public keys, for `private_key_jwt` (RFC 7523). */
  jwks?: { keys: JWK[] }
}

/** Looks a client up by id; undefined when there is no such client. */
export type GetClient = (id: string) => ClientRecord | undefined

/** How a request authenticated its client (RFC 8414 `token_endpoint_auth_methods_supported`). */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'

/** The client authentication failure every caller sees, whatever the reason. */
export const CLIENT_AUTH_FAILED = 'client authentication failed'
