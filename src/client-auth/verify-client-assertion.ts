import { createLocalJWKSet, decodeJwt, jwtVerify, type JWK, type JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import { invalidRequest, WritError } from '../errors.js'
import type { OnceStore } from '../store/once-store.js'
import { CLIENT_AUTH_FAILED, type ClientRecord, type GetClient } from './client-record.js'

/** RFC 7523 §2.2. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** Asymmetric algorithms only: never `none`, never HS* (no shared secret is a registered key). */
export const ASSERTION_ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'PS256']

/** Members no registered public key should carry; dropped before the key set is used. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

export interface VerifyClientAssertionOptions {
  getClient: GetClient
  store: OnceStore
  issuer: string
  tokenEndpoint: string
  clock: Clock
  /** Oldest `iat` accepted. */
  assertionMaxAgeSeconds: number
  clockToleranceSeconds: number
}

type LocalJwks = ReturnType<typeof createLocalJWKSet>
const keySets = new WeakMap<object, LocalJwks>()

/** The client's registered keys as a jose key set, built once per registered JWKS object. */
function keySetFor(jwks: { keys: JWK[] }): LocalJwks {
  let keySet = keySets.get(jwks)
  if (!keySet) {
    const keys = jwks.keys
      .filter((key) => key.kty !== 'oct')
      .map((key) => {
        const copy: JWK = { ...key }
        for (const member of PRIVATE_MEMBERS) delete copy[member]
        return copy
      })
    keySet = createLocalJWKSet({ keys })
    keySets.set(jwks, keySet)
  }
  return keySet
}

const failed = (detail: string, cause?: unknown): WritError =>
  new WritError('invalid_client', 401, CLIENT_AUTH_FAILED, {
    detail,
    ...(cause === undefined ? {} : { cause }),
  })

/**
 * Authenticates a client by `private_key_jwt` (RFC 7523 §3, RFC 7521 §4.2): a JWT signed with a
 * key from the client's registered JWKS, `iss` = `sub` = client id, `aud` naming this issuer or
 * its token endpoint, unexpired, recent, and used once. Returns the client id.
 * Store failures propagate unchanged (503).
 */
export async function verifyClientAssertion(
  options: VerifyClientAssertionOptions,
  params: Record<string, string | undefined>,
): Promise<string> {
  const { client_assertion: assertion, client_assertion_type: type } = params
  // Ensure both assertion parameters are present.
  if (assertion === undefined || type === undefined) {
    throw invalidRequest('client_assertion and client_assertion_type must be sent together')
  }
  // Ensure the assertion is the JWT bearer kind (RFC 7523), the only one writ accepts.
  if (type !== JWT_BEARER_ASSERTION_TYPE) {
    throw invalidRequest(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`)
  }

  let unverified: JWTPayload
  try {
    unverified = decodeJwt(assertion)
  } catch (cause) {
    throw failed('client_assertion is not a JWT', cause)
  }
  const clientId = params.client_id ?? unverified.sub
  // Ensure the assertion names a client.
  if (typeof clientId !== 'string' || clientId === '') {
    throw failed('client_assertion has no sub and no client_id was sent')
  }

  const client: ClientRecord | undefined = options.getClient(clientId)
  // Ensure the client exists and is registered for private_key_jwt with keys.
  if (!client) throw failed(`unknown client ${JSON.stringify(clientId)}`)
  if (client.auth !== 'private_key_jwt' || !client.jwks) {
    throw failed(`client ${clientId} does not authenticate with private_key_jwt`)
  }

  const tolerance = options.clockToleranceSeconds
  let payload: JWTPayload
  try {
    // Ensure: a registered key signed it with an asymmetric algorithm (jku/x5u are never
    // fetched), iss = sub = client id (so a client_id parameter must match), aud names us,
    // exp is present and in the future, iat is recent, and a jti is present.
    ;({ payload } = await jwtVerify(assertion, keySetFor(client.jwks), {
      algorithms: ASSERTION_ALGORITHMS,
      issuer: clientId,
      subject: clientId,
      audience: [options.issuer, options.tokenEndpoint],
      requiredClaims: ['exp', 'iat', 'jti'],
      maxTokenAge: options.assertionMaxAgeSeconds,
      clockTolerance: tolerance,
      currentDate: new Date(options.clock()),
    }))
  } catch (cause) {
    const code = (cause as { code?: unknown }).code
    const reason = cause instanceof Error ? cause.message : String(cause)
    const what = `${String(code ?? 'error')}: ${reason}`
    throw failed(`client ${clientId}: assertion rejected (${what})`, cause)
  }

  const { jti, exp, iat } = payload as JWTPayload & { exp: number; iat: number }
  // Ensure the jti is a usable single-use key.
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) {
    throw failed(`client ${clientId}: assertion jti must be a string of 1 to 256 characters`)
  }
  // The assertion passes the checks above until min(exp, iat + max age) + tolerance; the
  // single-use marker must outlive that, and need not outlive it.
  const acceptableUntil = Math.min(exp, iat + options.assertionMaxAgeSeconds) + tolerance
  const ttlSeconds = Math.max(1, Math.ceil(acceptableUntil - options.clock() / 1000) + 1)
  // Ensure the assertion is used once: a replay of a valid assertion is refused.
  if (!(await options.store.consumeOnce(`client-assertion:${clientId}`, jti, ttlSeconds))) {
    throw failed(`client ${clientId}: assertion jti ${JSON.stringify(jti)} was already used`)
  }
  return clientId
}
