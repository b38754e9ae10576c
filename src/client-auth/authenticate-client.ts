import type { Clock } from '../clock.js'
import { invalidRequest, WritError } from '../errors.js'
import type { OnceStore } from '../store/once-store.js'
import type { RateLimiter } from '../limits/create-rate-limiter.js'
import { rateLimited } from '../limits/rate-limited.js'
import {
  CLIENT_AUTH_FAILED,
  type ClientAuthMethod,
  type GetClient,
} from './client-record.js'
import { DUMMY_SECRET_HASH, verifySecret as argon2Verify } from './hash-secret.js'
import { unsafeCharacter } from '../text/unsafe-character.js'
import { parseBasicAuth } from './parse-basic-auth.js'
import { createSecretCache } from './secret-cache.js'
import { verifyClientAssertion } from './verify-client-assertion.js'

/** Longest client id and secret looked at; anything longer fails before argon2 runs. */
const MAX_CLIENT_ID_LENGTH = 256
const MAX_SECRET_LENGTH = 1024

export interface ClientAuthenticatorOptions {
  getClient: GetClient
  /** For single-use client assertion `jti`s. */
  store: OnceStore
  /** Accepted in a client assertion's `aud`. */
  issuer: string
  /** The token endpoint URL, also accepted in a client assertion's `aud`. */
  tokenEndpoint: string
  clock: Clock
  /** How long a verified secret is trusted without running argon2 again. */
  secretCacheSeconds: number
  /** Oldest `iat` accepted in a client assertion. */
  assertionMaxAgeSeconds: number
  /** Names secret cache entries (HMAC-SHA256). Random per process when absent. */
  hmacKey?: Uint8Array
  /** Verified secrets kept at most; oldest evicted first. Default 10,000. */
  secretCacheMaxEntries?: number
  /** Clock skew allowed on a client assertion's `exp`, `iat` and `nbf`. Default 15. */
  clockToleranceSeconds?: number
  /** Checks a secret against its hash. Default: argon2 verify. Injectable for tests. */
  verifySecret?: (secretHash: string, secret: string) => Promise<boolean>
  /**
   * The per-source budget of failed secret checks (`limits.clientAuthFailure*`): each argon2 run
   * for a secret not verified recently takes one request from its source's bucket, and a secret
   * that verifies gives it back. An empty bucket answers 429 without running argon2, so wrong
   * secrets and unknown clients from one address cost the broker a bounded amount of argon2.
   * Absent: no per-source budget.
   */
  failureBudget?: RateLimiter
}

/** What the HTTP layer passes: the Authorization header and the form (or query) parameters. */
export interface ClientAuthRequest {
  authorization?: string | undefined
  params: Record<string, string | undefined>
  /**
   * The caller's address as a budget key (`clientAddress`: an IPv4 address or an IPv6 /64);
   * undefined for a request that never crossed a socket, which the per-source budget does not
   * apply to.
   */
  source?: string | undefined
}

export interface AuthenticatedClient {
  clientId: string
  method: ClientAuthMethod
}

export interface ClientAuthenticator {
  /**
   * Authenticates the client of a request by exactly one of `client_secret_basic`,
   * `client_secret_post` or `private_key_jwt`. Throws WritError `invalid_client` (401) when
   * authentication fails, whatever the reason (the reason goes to `detail`), and
   * `invalid_request` (400) when more than one method is used or parameters are missing, and
   * `slow_down` (429, `Retry-After`) when the request's source has spent its budget of failed
   * secret checks (its cached secrets still pass).
   */
  authenticate(req: ClientAuthRequest): Promise<AuthenticatedClient>
}

/**
 * Refuses a client id holding control, invisible or bidi characters (no policy client has one):
 * such an id would otherwise reach the audit log and operators' terminals. The answer never
 * echoes it.
 */
function refuseHiddenText(clientId: string): void {
  const problem = unsafeCharacter(clientId)
  // Ensure escape sequences and hidden text never pass as a client id.
  if (problem !== undefined) throw failed(`the client id ${problem}`)
}

const failed = (detail: string, cause?: unknown): WritError =>
  new WritError('invalid_client', 401, CLIENT_AUTH_FAILED, {
    detail,
    ...(cause === undefined ? {} : { cause }),
  })

/**
 * Creates the client authenticator. Secrets are checked with argon2id, then remembered (under an
 * HMAC, never in clear) for `secretCacheSeconds`, so steady issuance does not pay argon2 per call.
 *
 * @example
 * const clients = createClientAuthenticator({ getClient: (id) => policy.clients.get(id), store,
 *   issuer, tokenEndpoint: `${issuer}/oauth/token`, clock: systemClock,
 *   secretCacheSeconds: 60, assertionMaxAgeSeconds: 300 })
 * const { clientId } = await clients.authenticate({ authorization, params })
 */
export function createClientAuthenticator(
  options: ClientAuthenticatorOptions,
): ClientAuthenticator {
  const { getClient, clock, failureBudget } = options
  const verifySecret = options.verifySecret ?? argon2Verify
  const maxEntries = options.secretCacheMaxEntries
  const cache = createSecretCache({
    clock,
    ttlSeconds: options.secretCacheSeconds,
    ...(maxEntries === undefined ? {} : { maxEntries }),
    ...(options.hmacKey === undefined ? {} : { hmacKey: options.hmacKey }),
  })
  /** One argon2 verification per (credential, hash) at a time, shared by concurrent requests. */
  const inFlight = new Map<string, Promise<boolean>>()
  const assertionOptions = {
    getClient,
    store: options.store,
    issuer: options.issuer,
    tokenEndpoint: options.tokenEndpoint,
    clock,
    assertionMaxAgeSeconds: options.assertionMaxAgeSeconds,
    clockToleranceSeconds: options.clockToleranceSeconds ?? 15,
  }

  function verifyShared(key: string, secretHash: string, secret: string): Promise<boolean> {
    const flightKey = `${key}\0${secretHash}`
    let pending = inFlight.get(flightKey)
    if (!pending) {
      pending = verifySecret(secretHash, secret).finally(() => inFlight.delete(flightKey))
      inFlight.set(flightKey, pending)
    }
    return pending
  }

  /** Takes one argon2 run from the source's budget of failures, or refuses the request. */
  function spendBudget(source: string | undefined): void {
    if (source === undefined || !failureBudget) return
    const decision = failureBudget.take(source)
    if (!decision.allowed) {
      throw rateLimited(decision, 'with failed client authentications from this address')
    }
  }

  async function checkSecret(
    clientId: string,
    secret: string,
    source: string | undefined,
  ): Promise<void> {
    // Ensure argon2 only ever sees bounded input.
    if (clientId.length > MAX_CLIENT_ID_LENGTH || secret.length > MAX_SECRET_LENGTH) {
      throw failed('client id or secret too long')
    }
    refuseHiddenText(clientId)
    const client = getClient(clientId)
    const key = cache.keyFor(clientId, secret)
    // A secret verified recently against this very hash needs no argon2 run, and no budget.
    const secretHash = client?.auth === 'client_secret' ? client.secretHash : undefined
    if (secretHash && cache.has(key, clientId, secretHash)) return
    // Ensure one address makes the broker run argon2 for failing credentials only within its
    // budget (wrong secrets and unknown clients alike); a secret that verifies gives it back.
    spendBudget(source)
    // Ensure the client exists and authenticates with a secret; if not, spend what a real
    // verification costs, so timing does not tell whether the client exists.
    if (!client || client.auth !== 'client_secret' || !secretHash) {
      await verifySecret(DUMMY_SECRET_HASH, secret).catch(() => false)
      throw failed(
        !client
          ? `unknown client ${JSON.stringify(clientId)}`
          : `client ${clientId} does not authenticate with a client secret`,
      )
    }
    let ok: boolean
    try {
      ok = await verifyShared(key, secretHash, secret)
    } catch (cause) {
      throw failed(`client ${clientId}: its secret hash cannot be verified (malformed?)`, cause)
    }
    // Ensure the secret matches the client's hash; only a match is ever remembered.
    if (!ok) throw failed(`client ${clientId}: wrong secret`)
    if (source !== undefined) failureBudget?.refund(source)
    cache.remember(key, clientId, secretHash)
  }

  return {
    async authenticate(req) {
      const { params } = req
      const authorization = req.authorization?.trim() ? req.authorization : undefined
      const presented: ClientAuthMethod[] = []
      if (authorization !== undefined) presented.push('client_secret_basic')
      if (params.client_secret !== undefined) presented.push('client_secret_post')
      if (params.client_assertion !== undefined || params.client_assertion_type !== undefined) {
        presented.push('private_key_jwt')
      }
      // Ensure exactly one authentication method (RFC 6749 §2.3).
      if (presented.length > 1) {
        throw invalidRequest(
          'use exactly one client authentication method',
          `presented: ${presented.join(', ')}`,
        )
      }
      const method = presented[0]
      if (method === undefined) {
        throw new WritError('invalid_client', 401, 'client authentication required', {
          detail: 'no client credentials in the request',
        })
      }

      if (method === 'client_secret_basic') {
        const credentials = parseBasicAuth(authorization as string)
        // Ensure the header is well-formed Basic credentials.
        if (!credentials) throw failed('malformed or non-Basic Authorization header')
        // Ensure a client_id parameter, if any, names the same client.
        if (params.client_id !== undefined && params.client_id !== credentials.clientId) {
          throw invalidRequest('client_id does not match the Authorization header')
        }
        await checkSecret(credentials.clientId, credentials.secret, req.source)
        return { clientId: credentials.clientId, method }
      }

      if (method === 'client_secret_post') {
        const clientId = params.client_id
        // Ensure the secret comes with the client it belongs to.
        if (clientId === undefined || clientId === '') {
          throw failed('client_secret without client_id')
        }
        await checkSecret(clientId, params.client_secret as string, req.source)
        return { clientId, method }
      }

      if (params.client_id !== undefined) refuseHiddenText(params.client_id)
      return { clientId: await verifyClientAssertion(assertionOptions, params), method }
    },
  }
}
