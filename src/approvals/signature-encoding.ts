import { cose, decodeAttestationObject, decodeCredentialPublicKey } from '@simplewebauthn/server/helpers'

/*
 * WebAuthn carries ECDSA signatures as DER `ECDSA-Sig-Value` (SEQUENCE { INTEGER r, INTEGER s }).
 * SimpleWebAuthn reads them with a BER parser that tolerates a wrong SEQUENCE length, a
 * non-minimal length or integer, and then verifies only (r, s): one genuine signature has many
 * encodings that all verify. None of those is a forgery (the signed bytes and (r, s) are the
 * signer's), but writ keeps assertions as evidence that "changing any byte makes it fail", and a
 * tampered payload must never be accepted. So every ECDSA signature must be the one DER encoding
 * of its (r, s) before it reaches the library (X.690 §10: definite, minimal lengths; §8.3:
 * minimal two's-complement integers).
 */

/** Byte length of r and s for the COSE ECDSA algorithms: ES256, ES384, ES512. */
const COMPONENT_BYTES_BY_ALG = new Map<number, number>([
  [-7, 32],
  [-35, 48],
  [-36, 66],
])
/** Byte length of r and s on the COSE EC2 curves: P-256, P-384, P-521. */
const COMPONENT_BYTES_BY_CURVE = new Map<number, number>([
  [1, 32],
  [2, 48],
  [3, 66],
])

const SEQUENCE = 0x30
const INTEGER = 0x02

/**
 * Why `signature` is not the DER encoding of an ECDSA signature whose r and s fit
 * `componentBytes` bytes, or undefined when it is.
 */
export function derEcdsaProblem(signature: Uint8Array, componentBytes: number): string | undefined {
  // Ensure the outer SEQUENCE has a definite, minimal length that covers exactly the rest.
  if (signature[0] !== SEQUENCE) return 'it does not start with a DER SEQUENCE'
  let at = 1
  let length = signature[at++]
  if (length === undefined) return 'it ends inside its header'
  if (length === 0x81) {
    length = signature[at++]
    // Ensure the long form is used only where the short form cannot say the length.
    if (length === undefined || length < 0x80) return 'its SEQUENCE length is not minimally encoded'
  } else if (length >= 0x80) {
    return 'its SEQUENCE length is not a definite length of one or two bytes'
  }
  if (at + length !== signature.length) {
    return `its SEQUENCE says ${length} bytes of content but ${signature.length - at} follow`
  }
  // Ensure it holds exactly two minimal, positive INTEGERs that fit the curve, and nothing else.
  for (const name of ['r', 's']) {
    if (signature[at++] !== INTEGER) return `${name} is not a DER INTEGER`
    const size = signature[at++]
    if (size === undefined || size === 0 || size > componentBytes + 1) return `${name} has an impossible length`
    if (at + size > signature.length) return `${name} runs past the end of the signature`
    const first = signature[at]!
    if (first & 0x80) return `${name} is negative`
    if (first === 0 && size > 1 && (signature[at + 1]! & 0x80) === 0) return `${name} has a needless leading zero`
    if (size === componentBytes + 1 && first !== 0) return `${name} is longer than the curve allows`
    at += size
  }
  if (at !== signature.length) return `${signature.length - at} bytes follow s`
  return undefined
}

/**
 * Throws when an assertion's signature, made by the key `cosePublicKey` (COSE, as enrolled), is an
 * ECDSA signature not in its one DER encoding. Other key types (EdDSA, RSA) have fixed-size raw
 * signatures the library checks exactly.
 */
export function assertCanonicalAssertionSignature(cosePublicKey: Uint8Array<ArrayBuffer>, signature: string): void {
  const key = decodeCredentialPublicKey(cosePublicKey)
  if (!cose.isCOSEPublicKeyEC2(key)) return
  const componentBytes = COMPONENT_BYTES_BY_CURVE.get(Number(key.get(cose.COSEKEYS.crv))) ?? 0
  const problem = derEcdsaProblem(Buffer.from(signature, 'base64url'), componentBytes)
  if (problem) throw new Error(`the signature is not a DER-encoded ECDSA signature: ${problem}`)
}

/**
 * Throws when a registration's attestation statement carries an ECDSA signature (`alg` ES256,
 * ES384 or ES512, or the always-P-256 `fido-u2f` format) not in its one DER encoding. Throws too
 * when the attestation object is not CBOR.
 */
export function assertCanonicalAttestationSignature(attestationObject: string): void {
  const decoded = decodeAttestationObject(Buffer.from(attestationObject, 'base64url'))
  const statement = decoded.get('attStmt')
  const sig = statement?.get('sig')
  if (!(sig instanceof Uint8Array)) return
  const componentBytes = decoded.get('fmt') === 'fido-u2f' ? 32 : COMPONENT_BYTES_BY_ALG.get(Number(statement.get('alg')))
  if (componentBytes === undefined) return
  const problem = derEcdsaProblem(sig, componentBytes)
  if (problem) throw new Error(`the attestation signature is not a DER-encoded ECDSA signature: ${problem}`)
}
