import { base64url, calculateJwkThumbprint, exportJWK, SignJWT, type CryptoKey, type JWK } from 'jose'

/** A DPoP key pair (RFC 9449): the private key signs proofs, the public key goes in their header. */
export interface DpopKeyPair {
  privateKey: CryptoKey
  publicKey: CryptoKey
}

const publicJwks = new WeakMap<CryptoKey, Promise<JWK>>()

function publicJwk(key: CryptoKey): Promise<JWK> {
  let jwk = publicJwks.get(key)
  if (!jwk) {
    jwk = exportJWK(key).then(({ kty, crv, x, y, n, e }) =>
      Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined)),
    )
    publicJwks.set(key, jwk)
  }
  return jwk
}

function algorithmOf(key: CryptoKey): 'ES256' | 'EdDSA' {
  const name = key.algorithm.name
  if (name === 'ECDSA') return 'ES256'
  if (name === 'Ed25519' || name === 'EdDSA') return 'EdDSA'
  throw new TypeError(`unsupported DPoP key algorithm ${name}; use ES256 or Ed25519`)
}

/**
 * Builds one DPoP proof JWT (RFC 9449 §4.2) for a request: `htm`, `htu` (without query and
 * fragment), a fresh `jti`, `iat`, and `ath` when the request carries an access token.
 *
 * @example
 * const proof = await createDpopProof(keys, { method: 'GET', url: 'https://api.example.com/x', accessToken })
 * await fetch(url, { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } })
 */
export async function createDpopProof(
  key: DpopKeyPair,
  request: { method: string; url: string | URL; accessToken?: string; nonce?: string; now?: number },
): Promise<string> {
  const url = new URL(request.url)
  const htu = `${url.origin}${url.pathname}`
  // WebCrypto only (no node: modules), so the client runs in Node, Deno, Bun and edge runtimes.
  const claims: Record<string, unknown> = { htm: request.method.toUpperCase(), htu, jti: crypto.randomUUID() }
  if (request.accessToken) {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(request.accessToken))
    claims.ath = base64url.encode(new Uint8Array(digest))
  }
  if (request.nonce) claims.nonce = request.nonce
  return new SignJWT(claims)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: algorithmOf(key.privateKey), jwk: await publicJwk(key.publicKey) })
    .setIssuedAt(Math.floor((request.now ?? Date.now()) / 1000))
    .sign(key.privateKey)
}

/** RFC 7638 thumbprint of the DPoP public key: what a bound token carries as `cnf.jkt`. */
export async function dpopThumbprint(key: DpopKeyPair): Promise<string> {
  return calculateJwkThumbprint(await publicJwk(key.publicKey))
}
