import { ExpiringLru } from './expiring-lru.js'
import type { LivenessCheck, LivenessStatus } from './liveness.js'
import type { AccessTokenClaims } from './types.js'
import { VerifierError } from './verifier-error.js'

/**
 * Ask the broker's RFC 7662 introspection endpoint, authenticated as a registered client
 * (client_secret_basic) that the policy declares a resource server (`introspect: any`): the
 * broker tells any other client only about its own tokens and answers `{"active": false}` for
 * the rest, so with an ordinary client every other client's token is refused as revoked.
 * Answers are cached briefly: a revocation is seen within
 * `cacheTtlSeconds`. When the endpoint cannot answer, requests are refused with
 * `liveness_unavailable`.
 *
 * @example
 * ```ts
 * const liveness: IntrospectionLivenessOptions = {
 *   mode: 'introspection',
 *   endpoint: 'https://writ.example.com/oauth/introspect',
 *   clientId: 'docs-service',
 *   clientSecret: process.env.WRIT_CLIENT_SECRET!,
 * }
 * ```
 */
export interface IntrospectionLivenessOptions {
  mode: 'introspection'
  /** The broker's `introspection_endpoint`, e.g. `https://writ.example.com/oauth/introspect`. */
  endpoint: string
  /** A policy client with `introspect: any` (a resource server), authenticating with a secret. */
  clientId: string
  clientSecret: string
  /** How long an answer is reused. Default 5. */
  cacheTtlSeconds?: number
  /** Most answers kept. Default 10000. */
  cacheSize?: number
  /** Longest wait for the endpoint. Default 2000. */
  timeoutMs?: number
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding. */
const formEncode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+')

/**
 * The `introspection` liveness check (see {@link IntrospectionLivenessOptions}). Both answers are
 * cached (a revoked grant never comes back), never beyond the token's expiry, per grant and
 * claims digest: the broker also calls a token inactive when its claims are not the ones issued
 * for its grant.
 */
export function createIntrospectionLiveness(
  options: IntrospectionLivenessOptions,
  clock: () => number,
  fetch: typeof globalThis.fetch,
  /** Told whether each check was answered from the cache of answers. */
  onCacheLookup?: (hit: boolean) => void,
): LivenessCheck {
  const ttlSeconds = options.cacheTtlSeconds ?? 5
  const timeoutMs = options.timeoutMs ?? 2000
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 0) {
    throw new TypeError('liveness.cacheTtlSeconds must be a non-negative integer')
  }
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new TypeError('liveness.timeoutMs must be a positive integer')
  }
  const endpoint = new URL(options.endpoint)
  if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') {
    throw new TypeError('liveness.endpoint must be an http(s) URL')
  }
  if (!options.clientId || !options.clientSecret) {
    throw new TypeError('liveness.clientId and liveness.clientSecret are required')
  }
  const authorization = `Basic ${Buffer.from(
    `${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`,
  ).toString('base64')}`
  const cache = new ExpiringLru<boolean>(ttlSeconds === 0 ? 0 : (options.cacheSize ?? 10_000))
  const pending = new Map<string, Promise<boolean>>()
  let closed = false

  const ask = async (token: string): Promise<boolean> => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      signal: AbortSignal.timeout(timeoutMs),
    })
    if (response.status !== 200) {
      throw new Error(`the introspection endpoint answered ${response.status}`)
    }
    const body = (await response.json()) as { active?: unknown }
    if (typeof body?.active !== 'boolean') {
      throw new Error('the introspection answer has no boolean "active"')
    }
    return body.active
  }

  return {
    async check(claims: AccessTokenClaims, token: string, claimsSha256: string) {
      if (closed) throw new VerifierError('liveness_unavailable', 'the verifier is closed')
      // The grant and the token's claims digest key the answer (never the token itself): the
      // broker's answer for the token issued for a grant says nothing of another token naming
      // the same grant, which the broker may call inactive (its claims are not the issued ones).
      const key = `${claims.client_id}\u0000${claims.jti}\u0000${claimsSha256}`
      let active = cache.get(key, clock())
      onCacheLookup?.(active !== undefined)
      if (active === undefined) {
        let answer = pending.get(key)
        if (answer === undefined) {
          answer = ask(token)
          pending.set(key, answer)
          const forget = (): void => void pending.delete(key)
          answer.then(forget, forget)
        }
        try {
          active = await answer
        } catch (cause) {
          // Ensure an unreachable or confused broker fails closed.
          throw new VerifierError(
            'liveness_unavailable',
            'the token introspection endpoint cannot be reached; retry shortly',
            { cause },
          )
        }
        cache.set(key, active, Math.min(claims.exp * 1000, clock() + ttlSeconds * 1000))
      }
      // Ensure only a grant the broker calls active is accepted.
      if (!active) throw new VerifierError('token_revoked', 'the token has been revoked')
    },

    status(): LivenessStatus {
      return { mode: 'introspection', cachedAnswers: cache.size }
    },

    async close() {
      closed = true
      cache.clear()
    },
  }
}
