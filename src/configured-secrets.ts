import type { Config } from './config.js'

/**
 * The secret values a config holds (KEK, Redis passwords, the DPoP nonce secret, the metrics
 * token): the logger cuts each out of every line wherever it appears.
 */
export function configuredSecrets(config: Config): string[] {
  const urlPassword = (url: string | undefined): string | undefined =>
    url && URL.canParse(url) ? decodeURIComponent(new URL(url).password) || undefined : undefined
  return [
    config.keys.kek,
    config.store.password,
    urlPassword(config.store.redisUrl),
    config.dpop.nonceSecret,
    config.metrics.bearerToken,
  ].filter((s): s is string => typeof s === 'string' && s.length > 0)
}
