import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importPKCS8, SignJWT, type CryptoKey, type JWK } from 'jose'

/** An agent's DPoP key pair, with its public JWK and RFC 7638 thumbprint. */
export interface DpopKey {
  alg: 'ES256' | 'EdDSA' | 'RS256'
  privateKey: CryptoKey
  publicJwk: JWK
  jkt: string
}

export async function dpopKey(alg: 'ES256' | 'EdDSA' = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = await exportJWK(publicKey)
  return { alg, privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, 'sha256') }
}

/** An RS256 DPoP key with the given public exponent and modulus size (to build unusual keys). */
export async function rsaDpopKey(publicExponent: number, modulusLength = 2048): Promise<DpopKey> {
  const pair = generateKeyPairSync('rsa', { modulusLength, publicExponent })
  const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const privateKey = await importPKCS8(pem, 'RS256')
  const publicJwk = pair.publicKey.export({ format: 'jwk' }) as JWK
  return { alg: 'RS256', privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, 'sha256') }
}

export interface ProofOptions {
  htm: string
  htu: string
  /** The access token the proof goes with: sets `ath`. */
  accessToken?: string
  nonce?: string
  /** Seconds since the epoch; default now by `clock`. */
  iat?: number
  jti?: string
  clock?: () => number
  /** Replaces header members (to build bad proofs). */
  header?: Record<string, unknown>
  /** Replaces claims (to build bad proofs); undefined values remove a claim. */
  claims?: Record<string, unknown>
}

/** Signs an RFC 9449 proof with `key`. */
export async function dpopProof(key: DpopKey, options: ProofOptions): Promise<string> {
  const clock = options.clock ?? Date.now
  const claims: Record<string, unknown> = {
    jti: options.jti ?? randomUUID(),
    htm: options.htm,
    htu: options.htu,
    iat: options.iat ?? Math.floor(clock() / 1000),
  }
  if (options.nonce !== undefined) claims.nonce = options.nonce
  if (options.accessToken !== undefined) {
    claims.ath = createHash('sha256').update(options.accessToken).digest('base64url')
  }
  for (const [name, value] of Object.entries(options.claims ?? {})) {
    if (value === undefined) delete claims[name]
    else claims[name] = value
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.publicJwk, ...options.header } as never)
    .sign(key.privateKey)
}
