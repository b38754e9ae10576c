import type { Config } from '../config.js'
import type { SettingsStore } from '../store/settings-store.js'
import { createAdminToken } from './create-admin-token.js'

/** Where the bootstrapped admin token's hash is kept in the store. */
export const ADMIN_TOKEN_SETTING = 'admin-token-hash'

/**
 * Gives the admin API a token when the config names none (`admin.tokenHash`) and bootstrap is on:
 * the first broker to start on a store creates a token, keeps only its argon2id hash in the store
 * (every replica then uses it) and returns the token so it can be shown once. Later starts find
 * the hash and return no token. The embedded memory store starts empty, so it gets a fresh token
 * on every start.
 */
export async function bootstrapAdminToken(
  config: Config,
  store: SettingsStore,
): Promise<{ config: Config; token?: string }> {
  if (config.admin.tokenHash || !config.admin.bootstrap) return { config }
  const fresh = await createAdminToken()
  // Ensure one token for all replicas: the first writer wins, everyone else adopts its hash.
  const inForce = await store.initSetting(ADMIN_TOKEN_SETTING, fresh.tokenHash)
  const withHash = { ...config, admin: { ...config.admin, tokenHash: inForce } }
  return inForce === fresh.tokenHash ? { config: withHash, token: fresh.token } : { config: withHash }
}
