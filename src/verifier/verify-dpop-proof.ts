import { createHash } from 'node:crypto'
import { calculateJwkThumbprint, EmbeddedJWK, type JWK, jwtVerify, type JWTPayload } from 'jose'
import { checkDpopKey } from './check-dpop-key.js'
import { DEFAULT_DPOP_ALGORITHMS } from './dpop-defaults.js'
import { VerifierError } from './verifier-error.js'

/** Longest proof accepted; a proof is a small JWT. */
const MAX_PROOF_LENGTH = 8192
const MAX_JTI_LENGTH = 256

/** Members only a private JWK has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/**
 * Options of {@link verifyDpopProof}.
 *
 * @example
 * ```ts
 * const options: VerifyDpopProofOptions = { proof, method: 'POST', url, maxAgeSeconds: 60,
 *   clockToleranceSeconds: 5, clock: Date.now }
 * ```
 */
export interface VerifyDpopProofOptions {
  /** The `DPoP` header's value. */
  proof: string
  /** The request's method; the proof's `htm` must equal it. */
  method: string
  /** The request's URL; the proof's `htu` must name it (query and fragment ignored). */
  url: string
  /** The access token presented with the proof: `ath` must be its SHA-256 (resource requests). */
  accessToken?: string
  algorithms?: readonly string[]
  /** Oldest proof `iat` accepted, in seconds. */
  maxAgeSeconds: number
  clockToleranceSeconds: number
  /** Milliseconds since the epoch. */
  clock: () => number
  /**
   * Server nonces (RFC 9449 §8): when given, the proof's `nonce` must pass this check, otherwise
   * `use_dpop_nonce` is thrown carrying `freshNonce`.
   */
  nonce?: { check(nonce: string): boolean; freshNonce(): string }
  /**
   * The thumbprint the proof's key must have (the token's `cnf.jkt`): compared before the
   * signature is checked, so a proof made with any other key costs no signature verification.
   */
  expectedJkt?: string
}

/**
 * A verified proof.
 *
 * @example
 * ```ts
 * const { jkt, jti } = await verifyDpopProof(options)
 * ```
 */
export interface DpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key: what `cnf.jkt` binds a token to. */
  jkt: string
  jti: string
  /** Seconds since the epoch. */
  iat: number
  jwk: JWK
}

const invalid = (message: string, cause?: unknown): VerifierError =>
  new VerifierError('invalid_dpop_proof', message, cause === undefined ? {} : { cause })

/**
 * The URI a proof's `htu` is compared on: scheme, host and path of an http(s) URL, without query
 * or fragment, normalised as the WHATWG URL parser does (lower-case scheme and host, default port
 * dropped, dot segments resolved). Undefined for anything else.
 *
 * @example
 * ```ts
 * normalizeHtu('HTTPS://API.example.com:443/a/../b?q=1#f') // 'https://api.example.com/b'
 * ```
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  return `${url.protocol}//${url.host}${url.pathname}`
}

/**
 * base64url(SHA-256(access token)): the proof's `ath` (RFC 9449 §4.2).
 *
 * @example
 * ```ts
 * const proof = await new SignJWT({ htm: 'GET', htu, jti, iat, ath: accessTokenHash(token) })
 * ```
 */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url')
}

/**
 * Verifies a DPoP proof JWT per RFC 9449 §4.3: one compact JWT with `typ: dpop+jwt`, an allowed
 * asymmetric `alg`, a public `jwk` header that verifies the signature, `htm` and `htu` matching
 * the request, `iat` within the window, `ath` matching the access token when one is presented, a
 * server nonce when required, an RSA key of usual exponent and size ({@link checkDpopKey}), and,
 * when `expectedJkt` is given, a key with that thumbprint (checked before the signature). The
 * caller still has to take the `jti` once (replay).
 *
 * @throws VerifierError `invalid_dpop_proof`, or `use_dpop_nonce` when only the nonce is missing
 *   or stale.
 *
 * @example
 * ```ts
 * const proof = await verifyDpopProof({
 *   proof: request.headers.get('dpop')!, method: 'GET', url: request.url, accessToken,
 *   maxAgeSeconds: 60, clockToleranceSeconds: 5, clock: Date.now, expectedJkt: claims.cnf?.jkt,
 * })
 * ```
 */
export async function verifyDpopProof(options: VerifyDpopProofOptions): Promise<DpopProof> {
  const { proof, clock, clockToleranceSeconds: tolerance } = options
  // Ensure the header is one compact JWT of reasonable size (one header field, RFC 9449 §4.3).
  if (typeof proof !== 'string' || proof.length === 0 || proof.length > MAX_PROOF_LENGTH) {
    throw invalid('the DPoP proof is missing or too long')
  }
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(proof)) {
    throw invalid('the DPoP header must hold exactly one compact JWT')
  }

  let payload: JWTPayload
  let jwk: JWK
  let jkt: string | undefined
  try {
    // Ensure: typ dpop+jwt, an allowed asymmetric alg (never none or HS*), the signature verifies
    // with the embedded public jwk (never a private key), and jti, htm, htu, iat are present.
    const result = await jwtVerify(
      proof,
      async (header, token) => {
        // Ensure no header points at a key elsewhere, or asks for extensions we do not process.
        for (const name of ['jku', 'x5u', 'x5c', 'crit'] as const) {
          if (header[name] !== undefined) {
            throw invalid(`the DPoP proof must not carry a ${name} header`)
          }
        }
        const embedded = header.jwk as Record<string, unknown> | undefined
        if (embedded && typeof embedded === 'object') {
          for (const member of PRIVATE_MEMBERS) {
            if (member in embedded) throw invalid('the DPoP proof jwk must be a public key')
          }
          // Ensure an RSA key's exponent and size keep the signature check cheap.
          checkDpopKey(embedded)
          // Ensure the key is the one the token is bound to before its signature costs anything.
          if (options.expectedJkt !== undefined) {
            jkt = await thumbprint(embedded as JWK)
            if (jkt !== options.expectedJkt) {
              throw invalid('the DPoP proof was signed with a key the token is not bound to')
            }
          }
        }
        return EmbeddedJWK(header, token)
      },
      {
        typ: 'dpop+jwt',
        algorithms: [...(options.algorithms ?? DEFAULT_DPOP_ALGORITHMS)],
        requiredClaims: ['jti', 'htm', 'htu', 'iat'],
        clockTolerance: tolerance,
        currentDate: new Date(clock()),
      },
    )
    payload = result.payload
    jwk = result.protectedHeader.jwk as JWK
  } catch (err) {
    if (err instanceof VerifierError) throw err
    const reason = err instanceof Error ? err.message : String(err)
    throw invalid(`the DPoP proof is invalid: ${reason}`, err)
  }

  const { jti, htm, htu, iat, ath, nonce } = payload as Record<string, unknown>
  // Ensure the jti can serve as a replay-cache key.
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw invalid(`the DPoP proof jti must be a string of 1 to ${MAX_JTI_LENGTH} characters`)
  }
  // Ensure the proof was made for this method.
  if (htm !== options.method) {
    throw invalid(`the DPoP proof was made for another method (htm ${JSON.stringify(htm)})`)
  }
  // Ensure the proof was made for this URL (query and fragment ignored, RFC 9449 §4.3 check 9).
  const expected = normalizeHtu(options.url)
  if (expected === undefined) throw invalid('the request URL cannot be compared with htu')
  if (typeof htu !== 'string' || normalizeHtu(htu) !== expected) {
    throw invalid('the DPoP proof was made for another URL (htu)')
  }
  // Ensure the proof is recent, and not from the future.
  const now = clock() / 1000
  if (typeof iat !== 'number' || !Number.isFinite(iat)) {
    throw invalid('the DPoP proof iat must be a number')
  }
  if (iat > now + tolerance) throw invalid('the DPoP proof iat is in the future')
  if (iat < now - options.maxAgeSeconds - tolerance) {
    throw invalid('the DPoP proof is too old (iat)')
  }
  // Ensure the proof was made for this access token (RFC 9449 §4.3 check 12, §7).
  if (options.accessToken !== undefined) {
    if (typeof ath !== 'string') throw invalid('the DPoP proof has no ath for the access token')
    if (ath !== accessTokenHash(options.accessToken)) {
      throw invalid('the DPoP proof was made for another access token (ath)')
    }
  }
  // Ensure the proof carries a fresh server nonce when the server requires one (RFC 9449 §8).
  if (options.nonce) {
    if (typeof nonce !== 'string' || !options.nonce.check(nonce)) {
      throw new VerifierError(
        'use_dpop_nonce',
        nonce === undefined
          ? 'the DPoP proof must carry the server nonce from the DPoP-Nonce header'
          : 'the DPoP proof nonce is stale or unknown; use the one from the DPoP-Nonce header',
        { dpopNonce: options.nonce.freshNonce() },
      )
    }
  }

  return { jkt: jkt ?? (await thumbprint(jwk)), jti, iat, jwk }
}

/** RFC 7638 SHA-256 thumbprint; a key that has none is not a valid proof key. */
async function thumbprint(jwk: JWK): Promise<string> {
  try {
    return await calculateJwkThumbprint(jwk, 'sha256')
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw invalid(`the DPoP proof jwk is invalid: ${reason}`, err)
  }
}
