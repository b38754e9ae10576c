import { generateSecret, hashSecret } from '../client-auth/index.js'

/** A new admin token and the argon2id hash to configure as `admin.tokenHash`. */
export interface AdminToken {
  /** 32 random bytes, base64url: give it to the admin, store it nowhere else. */
  token: string
  /** argon2id PHC hash of `token`, for `admin.tokenHash` / `WRIT_ADMIN_TOKEN_HASH`. */
  tokenHash: string
}

/**
 * Generates an admin bearer token and its argon2id hash. Only the hash goes into the broker's
 * configuration; the token itself is shown once.
 *
 * @example
 * const { token, tokenHash } = await createAdminToken()
 */
export async function createAdminToken(): Promise<AdminToken> {
  const token = generateSecret()
  return { token, tokenHash: await hashSecret(token) }
}
