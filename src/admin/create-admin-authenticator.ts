import {
  createHmac,
  createSecretKey,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto'
import { verifySecret } from '../client-auth/index.js'
import type { Clock } from '../clock.js'
import { WritError } from '../errors.js'
import type { RateLimiter } from '../limits/create-rate-limiter.js'
import { rateLimited } from '../limits/rate-limited.js'

/** Longest admin token looked at; anything longer fails before argon2 runs. */
const MAX_TOKEN_LENGTH = 1024

/** Unverified tokens waiting for an argon2 slot at most, by default; beyond, 503. */
const DEFAULT_MAX_QUEUED = 64

/** RFC 6750 §2.1: `Bearer` (any case), one space, a token68. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i

export interface AdminAuthenticatorOptions {
  /** argon2id PHC hash of the admin token (`admin.tokenHash`); undefined turns the API off. */
  tokenHash: string | undefined
  clock: Clock
  /** How long a verified token is trusted without running argon2 again. 0 disables the cache. */
  cacheSeconds: number
  /** Argon2 verifications of not-yet-cached tokens run at once; the others wait. Default 2. */
  maxConcurrentVerifications?: number
  /** Unverified tokens that may wait for a verification at once; beyond, 503. Default 64. */
  maxQueuedVerifications?: number
  /**
   * The per-source budget of wrong tokens (`limits.adminAuthFailure*`): each argon2 run for an
   * unverified token takes one request from its source's bucket, and a token that verifies gives
   * it back. An empty bucket answers 429 without running argon2. Absent: no per-source budget.
   */
  failureBudget?: RateLimiter
  /** Key of the HMAC that names the cached token. Random per process when absent. */
  hmacKey?: Uint8Array
  /** Checks a token against the hash. Default: argon2 verify. */
  verifyToken?: (tokenHash: string, token: string) => Promise<boolean>
}

export interface AdminAuthenticator {
  /** Whether an admin token hash is configured; without one every call answers 404. */
  readonly enabled: boolean
  /**
   * Checks a request's `Authorization` header, sent from `source` (the caller's address as a
   * budget key, see `clientAddress`; undefined for a request that never crossed a socket, which no
   * per-source limit applies to). Resolves
   * when it carries the admin bearer token; throws a WritError otherwise: `not_found` (404) when
   * the admin API is off, `invalid_token` (401, with a `Bearer realm="writ"` challenge) for a
   * missing, malformed or wrong token, `slow_down` (429, `Retry-After`) when the source has spent
   * its budget of wrong tokens or already has another unverified token being checked, and
   * `temporarily_unavailable` (503) when too many sources are waiting for a verification.
   */
  authenticate(authorization: string | undefined, source?: string): Promise<void>
}

const invalidToken = (message: string, detail: string): WritError =>
  new WritError('invalid_token', 401, message, { detail })

/**
 * Creates the admin authenticator. The admin token is stored only as an argon2id hash. A token that
 * verified is remembered for `cacheSeconds` as an HMAC of itself (never in clear), compared in
 * constant time, so an admin session does not pay argon2 per request. There is one admin token,
 * hence one cache slot; a changed hash (a new authenticator) forgets it.
 *
 * Guessing stays cheap for the broker and cannot lock the admin out: argon2 runs for at most
 * `maxConcurrentVerifications` tokens at once and the others wait their turn in arrival order
 * (a bounded queue), each source checks one unverified token at a time, and each source's wrong
 * tokens draw on its own `failureBudget`. A flood from a few addresses thus costs a few argon2
 * runs per minute, and the admin calling from another address waits behind at most one
 * verification per flooding address.
 *
 * @example
 * const failureBudget = createRateLimiter({ burst: 10, perSecond: 10 / 60, maxKeys: 100_000,
 *   clock: systemClock })
 * const admin = createAdminAuthenticator({ tokenHash: config.admin.tokenHash, clock: systemClock,
 *   cacheSeconds: config.admin.tokenCacheSeconds, failureBudget })
 * await admin.authenticate(request.headers.get('authorization') ?? undefined, '192.0.2.7')
 */
export function createAdminAuthenticator(options: AdminAuthenticatorOptions): AdminAuthenticator {
  const { tokenHash, clock } = options
  const verifyToken = options.verifyToken ?? verifySecret
  const cacheMs = options.cacheSeconds * 1000
  const maxInFlight = Math.max(1, options.maxConcurrentVerifications ?? 2)
  const maxQueued = Math.max(0, options.maxQueuedVerifications ?? DEFAULT_MAX_QUEUED)
  const { failureBudget } = options
  const hmacKey: KeyObject = createSecretKey(options.hmacKey ?? randomBytes(32))
  let verified: { mac: Buffer; expiresAtMs: number } | null = null
  /** One argon2 run per distinct token at a time, shared by concurrent requests. */
  const inFlight = new Map<string, Promise<boolean>>()
  /** Sources with an unverified token being checked or waiting. */
  const busySources = new Set<string>()
  /** Argon2 runs in progress, and the runs waiting for one to finish (first come, first served). */
  let running = 0
  const waiting: Array<() => void> = []

  const macOf = (token: string): Buffer => createHmac('sha256', hmacKey).update(token).digest()

  const isCached = (mac: Buffer): boolean => {
    if (!verified) return false
    if (verified.expiresAtMs <= clock()) {
      verified = null
      return false
    }
    // Ensure the comparison takes the same time whatever the presented token is.
    return timingSafeEqual(mac, verified.mac)
  }

  /** Waits for an argon2 slot; a finished run hands its slot to the oldest waiter. */
  const acquireSlot = async (): Promise<void> => {
    if (running < maxInFlight) {
      running += 1
      return
    }
    // Ensure the waiting line, and the memory it holds, stays bounded.
    if (waiting.length >= maxQueued) {
      throw new WritError(
        'temporarily_unavailable',
        503,
        'too many admin authentication attempts in progress; retry shortly',
        { retryAfterSeconds: 1 },
      )
    }
    await new Promise<void>((resolve) => waiting.push(resolve))
  }

  const releaseSlot = (): void => {
    const next = waiting.shift()
    if (next) next()
    else running -= 1
  }

  const verifyShared = (
    mac: Buffer,
    token: string,
    source: string | undefined,
  ): Promise<boolean> => {
    const key = mac.toString('base64url')
    const shared = inFlight.get(key)
    if (shared) return shared
    if (source !== undefined) {
      // Ensure one source has at most one unverified token checked at a time.
      if (busySources.has(source)) {
        throw new WritError(
          'slow_down',
          429,
          'another admin token from this address is being checked; retry in 1 s',
          { retryAfterSeconds: 1 },
        )
      }
      // Ensure each source can make the broker run argon2 for wrong tokens only within its budget.
      const decision = failureBudget?.take(source)
      if (decision && !decision.allowed) {
        throw rateLimited(decision, 'with a wrong admin token from this address')
      }
      busySources.add(source)
    }
    let ran = false
    const pending = (async (): Promise<boolean> => {
      await acquireSlot()
      ran = true
      try {
        return await verifyToken(tokenHash!, token).catch(() => false)
      } finally {
        releaseSlot()
      }
    })().then(
      (ok) => {
        // A token that verified spends nothing from its source's budget.
        if (ok && source !== undefined) failureBudget?.refund(source)
        return ok
      },
      (err: unknown) => {
        // Nor does a token that was never checked.
        if (!ran && source !== undefined) failureBudget?.refund(source)
        throw err
      },
    )
    const done = (): void => {
      inFlight.delete(key)
      if (source !== undefined) busySources.delete(source)
    }
    pending.then(done, done)
    inFlight.set(key, pending)
    return pending
  }

  return {
    enabled: tokenHash !== undefined,

    async authenticate(authorization, source) {
      // Ensure the admin API is off unless an admin token hash is configured.
      if (tokenHash === undefined) {
        throw new WritError(
          'not_found',
          404,
          'the admin API is disabled: set admin.tokenHash (WRIT_ADMIN_TOKEN_HASH) to enable it',
        )
      }
      if (authorization === undefined || authorization.trim() === '') {
        throw invalidToken('admin bearer token required', 'no Authorization header')
      }
      const match = BEARER.exec(authorization.trim())
      // Ensure the header is a well-formed Bearer credential of bounded length.
      if (!match || match[1]!.length > MAX_TOKEN_LENGTH) {
        throw invalidToken('invalid admin token', 'not a Bearer token, or too long')
      }
      const token = match[1]!
      const mac = macOf(token)
      if (isCached(mac)) return
      // Ensure the token matches the configured argon2id hash; only a match is remembered.
      if (!(await verifyShared(mac, token, source))) {
        throw invalidToken('invalid admin token', 'wrong token')
      }
      if (cacheMs > 0) verified = { mac, expiresAtMs: clock() + cacheMs }
    },
  }
}
