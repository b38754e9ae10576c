import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  jwtVerify,
} from 'jose'
import type { Clock } from '../clock.js'
import { invalidRequest, WritError } from '../errors.js'
import { personClaimNames, type Policy, type ProvenPerson, type TrustedIssuer } from '../policy/index.js'
import { normalizePersonId } from '../text/normalize-person-id.js'

/** RFC 8693 §3 token types of an identity provider's token naming a person. */
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token'
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt'

/** Verifies a trusted identity provider's signed token and answers the person it proves. */
export type SubjectTokenVerifier = (token: string) => Promise<ProvenPerson>

export interface SubjectTokenVerifierOptions {
  /** The fetch used for JWKS documents (tests, proxies). Default: the global fetch. */
  fetch?: typeof fetch
  /** The broker's clock, for `exp`, `iat` and `nbf`. Default: the system clock. */
  clock?: Clock
  /** Milliseconds after a fetch before an unknown `kid` may cause another one (jose's cooldown). */
  cooldownMs?: number
}

const refuse = (problem: string): WritError => invalidRequest(`subject_token: ${problem}`)

/**
 * The verifier of ID tokens (or other JWTs) from the policy's `issuers:`. Each issuer's keys come
 * from its `jwks_uri` through jose's `createRemoteJWKSet`: cached, and fetched again when a token
 * names a `kid` the cached set lacks (at most once per cooldown, so forged `kid`s cannot make the
 * broker hammer the identity provider).
 *
 * A token is accepted only when every check holds, in this order, each refusal an RFC 8693 §2.2.2
 * `invalid_request` naming the problem:
 * - it is a compact JWS (three parts; an encrypted JWT is refused);
 * - its `alg` is not `none` (unsigned) and not HMAC (`HS*`: a secret every client of the provider
 *   shares could forge it), and is one the issuer's `algorithms` allow;
 * - its `iss` is a trusted issuer's, exactly;
 * - its signature verifies with a key of that issuer's JWKS (RFC 7515 §5.2);
 * - `aud` names one of the issuer's `audience` values, `exp` is in the future and `iat`/`nbf` not
 *   in it (both within `clock_tolerance`), and `sub`, `iat` and `exp` are present (OIDC Core §2);
 * - the issuer's `subject_claim` is a string that is a person id in normal form
 *   (`normalizePersonId`); when the claim is `email`, `email_verified` must be `true`
 *   (OIDC Core §5.1): an unverified address proves nobody.
 *
 * A JWKS that cannot be fetched is the broker's problem, not the caller's: 503.
 */
export function createSubjectTokenVerifier(
  policy: Policy,
  options: SubjectTokenVerifierOptions = {},
): SubjectTokenVerifier {
  const issuers = policy.issuers ?? new Map<string, TrustedIssuer>()
  const claimNames = personClaimNames(policy.rules)
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>()
  const keySetOf = (issuer: TrustedIssuer) => {
    let set = keySets.get(issuer.issuer)
    if (!set) {
      set = createRemoteJWKSet(new URL(issuer.jwksUri), {
        ...(options.cooldownMs !== undefined ? { cooldownDuration: options.cooldownMs } : {}),
        ...(options.fetch ? { [customFetch]: options.fetch } : {}),
      })
      keySets.set(issuer.issuer, set)
    }
    return set
  }

  return async (token) => {
    if (token.split('.').length !== 3) {
      throw refuse('not a signed JWT (a compact JWS of three parts; encrypted tokens are not accepted)')
    }
    let alg: unknown
    let unverified: JWTPayload
    try {
      alg = decodeProtectedHeader(token).alg
      unverified = decodeJwt(token)
    } catch {
      throw refuse('not a JWT (its header or payload is not base64url JSON)')
    }
    // Ensure an unsigned token never names a person (RFC 7519 §6: alg none is an unsecured JWT).
    if (typeof alg !== 'string' || alg.toLowerCase() === 'none') {
      throw refuse('unsigned (alg none); a trusted issuer must sign it with an asymmetric key')
    }
    // Ensure no HMAC-signed token is taken: its key is a secret the provider shares with clients.
    if (/^HS/i.test(alg)) {
      throw refuse(`signed with HMAC (${alg}); only asymmetric signatures from a trusted issuer are accepted`)
    }
    const iss = unverified.iss
    const issuer = typeof iss === 'string' ? issuers.get(iss) : undefined
    if (issuer === undefined) {
      throw refuse(
        typeof iss === 'string'
          ? `issuer ${JSON.stringify(iss.slice(0, 200))} is not trusted (the policy's issuers: do not list it)`
          : 'no iss claim; the issuer must be one the policy trusts',
      )
    }
    if (!issuer.algorithms.includes(alg)) {
      throw refuse(`alg ${alg} is not allowed for issuer ${issuer.issuer} (allowed: ${issuer.algorithms.join(', ')})`)
    }
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, keySetOf(issuer), {
        issuer: issuer.issuer,
        audience: issuer.audience,
        algorithms: issuer.algorithms,
        clockTolerance: issuer.clockToleranceSeconds,
        requiredClaims: ['sub', 'iat', 'exp'],
        ...(options.clock ? { currentDate: new Date(options.clock()) } : {}),
      }))
    } catch (err) {
      throw verificationProblem(err, issuer)
    }
    return personOf(payload, issuer, claimNames)
  }
}

/** The refusal for a token jose would not verify (or a 503 when the keys could not be had). */
function verificationProblem(err: unknown, issuer: TrustedIssuer): WritError {
  if (err instanceof errors.JWTExpired) return refuse(`expired (exp ${String(err.payload.exp)})`)
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') {
      return refuse(`its audience is not ${issuer.audience.join(' or ')} (issuers[].audience for ${issuer.issuer})`)
    }
    return refuse(`claim ${err.claim} is invalid: ${err.message}`)
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return refuse(`its signature does not verify with ${issuer.issuer}'s keys`)
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return refuse(`no key of ${issuer.issuer}'s JWKS matches its kid and alg (forged, or signed with a retired key)`)
  }
  if (err instanceof errors.JWKSMultipleMatchingKeys) {
    return refuse(`its header matches several keys of ${issuer.issuer}'s JWKS; it must name a kid`)
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) {
    return refuse(`malformed: ${err.message}`)
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return refuse(err.message)
  // The keys could not be fetched or read (timeout, HTTP error, not a JWKS): not the caller's fault.
  const reason = err instanceof Error ? err.message : String(err)
  return new WritError(
    'temporarily_unavailable',
    503,
    `the keys of trusted issuer ${issuer.issuer} could not be fetched from ${issuer.jwksUri}: ${reason}`,
  )
}

/** The person the verified claims name, with the claims rules test. */
function personOf(payload: JWTPayload, issuer: TrustedIssuer, claimNames: readonly string[]): ProvenPerson {
  const raw = payload[issuer.subjectClaim]
  if (typeof raw !== 'string' || raw === '') {
    throw refuse(`no ${issuer.subjectClaim} claim (a string naming the person, issuers[].subject_claim)`)
  }
  // OIDC Core §5.1: an address the provider has not verified is only what someone typed.
  if (issuer.subjectClaim === 'email' && payload.email_verified !== true) {
    throw refuse('email_verified is not true; an unverified email address cannot name the person')
  }
  const normal = normalizePersonId(raw)
  if (!('id' in normal)) throw refuse(`claim ${issuer.subjectClaim} is not a usable person id: ${normal.problem}`)
  const claims: Record<string, string[]> = {}
  for (const name of claimNames) {
    const value = payload[name]
    if (typeof value === 'string') claims[name] = [value]
    else if (Array.isArray(value)) claims[name] = value.filter((v): v is string => typeof v === 'string')
  }
  return { id: normal.id, issuer: issuer.issuer, claims }
}
