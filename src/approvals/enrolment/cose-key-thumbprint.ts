import { decodeCredentialPublicKey } from '@simplewebauthn/server/helpers'
import { calculateJwkThumbprint, type JWK } from 'jose'

/** COSE key parameters (RFC 9053 §7): key type, curve and coordinates, RSA modulus and exponent. */
const KTY = 1
const CRV = -1
const X = -2
const Y = -3
const N = -1
const E = -2

/** COSE curve identifiers and their JWK names. */
const EC2_CURVES: ReadonlyMap<number, string> = new Map([
  [1, 'P-256'],
  [2, 'P-384'],
  [3, 'P-521'],
])
const OKP_CURVES: ReadonlyMap<number, string> = new Map([[6, 'Ed25519']])

const b64u = (value: unknown, what: string): string => {
  if (!(value instanceof Uint8Array) || value.length === 0) throw new Error(`the COSE key has no ${what}`)
  return Buffer.from(value).toString('base64url')
}

/** The public JWK (only the members RFC 7638 hashes) of a COSE_Key. */
function coseToJwk(cose: Uint8Array<ArrayBuffer>): JWK {
  const key = decodeCredentialPublicKey(cose) as unknown as Map<number, unknown>
  const kty = key.get(KTY)
  if (kty === 2) {
    const crv = EC2_CURVES.get(key.get(CRV) as number)
    if (!crv) throw new Error(`the COSE key's curve ${String(key.get(CRV))} is not supported`)
    return { kty: 'EC', crv, x: b64u(key.get(X), 'x'), y: b64u(key.get(Y), 'y') }
  }
  if (kty === 1) {
    const crv = OKP_CURVES.get(key.get(CRV) as number)
    if (!crv) throw new Error(`the COSE key's curve ${String(key.get(CRV))} is not supported`)
    return { kty: 'OKP', crv, x: b64u(key.get(X), 'x') }
  }
  if (kty === 3) return { kty: 'RSA', n: b64u(key.get(N), 'n'), e: b64u(key.get(E), 'e') }
  throw new Error(`the COSE key type ${String(kty)} is not supported`)
}

/**
 * The RFC 7638 thumbprint (SHA-256, base64url) of a security key's credential public key, given as
 * the COSE_Key the authenticator attested (bytes or base64url). It names the key itself, whatever
 * CBOR encoding carries it: `approver.enrolled` events and `GET /admin/approvers/keys` show it, so
 * the key a broker lists can be compared with the key recorded at enrolment in the audit chain.
 *
 * @throws Error when the bytes are not a COSE EC2 (P-256, P-384, P-521), OKP (Ed25519) or RSA key.
 *
 * @example
 * const thumbprint = await coseKeyThumbprint(credential.publicKey) // "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
 */
export async function coseKeyThumbprint(publicKey: Uint8Array | string): Promise<string> {
  const cose = new Uint8Array(typeof publicKey === 'string' ? Buffer.from(publicKey, 'base64url') : publicKey)
  return calculateJwkThumbprint(coseToJwk(cose), 'sha256')
}
