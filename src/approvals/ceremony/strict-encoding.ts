import { cose, decodeAttestationObject, decodeCredentialPublicKey } from '@simplewebauthn/server/helpers'

/*
 * WebAuthn payloads are taken only in their one encoding. SimpleWebAuthn's parsers are tolerant:
 *
 * - ECDSA signatures are DER `ECDSA-Sig-Value` (SEQUENCE { INTEGER r, INTEGER s }), read with a BER
 *   parser that accepts a wrong SEQUENCE length, a non-minimal length or integer, trailing bytes:
 *   one genuine signature has many encodings that all verify (only (r, s) is checked).
 * - The attestation object is CBOR, read with a decoder that takes the first item and ignores what
 *   follows, and cuts a byte string whose declared length runs past the end to what is there.
 *
 * None of those is a forgery (the signed bytes are the signer's), but writ keeps assertions as
 * evidence where "changing any byte makes it fail", and a tampered payload must never be accepted.
 * So an ECDSA signature must be the one DER encoding of its (r, s) (X.690 §10: definite, minimal
 * lengths; §8.3: minimal two's-complement integers), and an attestation object exactly one
 * well-formed CBOR item with definite lengths (RFC 8949 §5.3.1, Appendix C; CTAP2's canonical
 * CBOR has no indefinite lengths), before either reaches the library. (The library's decoder
 * itself refuses a map key given twice.)
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

/** Deepest nesting of CBOR arrays, maps and tags taken in an attestation object. */
const MAX_CBOR_DEPTH = 16

/** The head of the CBOR item at `at`: major type, argument, and where its content starts. */
interface CborHead {
  major: number
  argument: number
  content: number
}

/** Reads the head of the CBOR item at `at`, or says why there is none. */
function cborHead(bytes: Uint8Array, at: number): CborHead | string {
  const initial = bytes[at]
  if (initial === undefined) return `an item is cut off at byte ${at}`
  const info = initial & 0x1f
  if (info < 24) return { major: initial >> 5, argument: info, content: at + 1 }
  if (info <= 27) {
    const size = 1 << (info - 24)
    if (at + 1 + size > bytes.length) return `the argument of the item at byte ${at} is cut off`
    let argument = 0
    // Exact up to 2^53; a larger length or count cannot fit in the buffer anyway.
    for (let i = 1; i <= size; i++) argument = argument * 256 + bytes[at + i]!
    return { major: initial >> 5, argument, content: at + 1 + size }
  }
  if (info === 31) return `the item at byte ${at} has an indefinite length`
  return `the item at byte ${at} uses reserved additional information ${info}`
}

/**
 * The offset just after the well-formed CBOR item starting at `at`, or a string saying why it is
 * not one: a length running past the end, reserved additional information, an indefinite length,
 * or nesting deeper than {@link MAX_CBOR_DEPTH}.
 */
function cborItemEnd(bytes: Uint8Array, at: number, depth: number): number | string {
  if (depth > MAX_CBOR_DEPTH) return `it nests deeper than ${MAX_CBOR_DEPTH} levels`
  const head = cborHead(bytes, at)
  if (typeof head === 'string') return head
  const { major, argument } = head
  let pos = head.content
  switch (major) {
    case 2: // byte string
    case 3: // text string
      if (argument > bytes.length - pos) return `the string at byte ${at} says ${argument} bytes but ${bytes.length - pos} follow`
      return pos + argument
    case 4: // array
    case 5: // map
      for (let i = 0; i < (major === 5 ? argument * 2 : argument); i++) {
        const end = cborItemEnd(bytes, pos, depth + 1)
        if (typeof end === 'string') return end
        pos = end
      }
      return pos
    case 6: // tag: one item follows
      return cborItemEnd(bytes, pos, depth + 1)
    default: // unsigned and negative integers, simple values and floats: the argument is all
      return pos
  }
}

/**
 * Why `bytes` is not exactly one well-formed CBOR item with definite lengths, or undefined when it
 * is.
 */
export function cborProblem(bytes: Uint8Array): string | undefined {
  const end = cborItemEnd(bytes, 0, 0)
  if (typeof end === 'string') return end
  if (end !== bytes.length) return `${bytes.length - end} bytes follow it`
  return undefined
}

/**
 * Throws when a registration's attestation object (base64url) is not exactly one well-formed CBOR
 * item, or when its statement carries an ECDSA signature (`alg` ES256, ES384 or ES512, or the
 * always-P-256 `fido-u2f` format) not in its one DER encoding.
 */
export function assertStrictAttestationObject(attestationObject: string): void {
  const raw = Buffer.from(attestationObject, 'base64url')
  const malformed = cborProblem(raw)
  if (malformed) throw new Error(`the attestation object is not well-formed CBOR: ${malformed}`)
  const decoded = decodeAttestationObject(raw)
  const statement = decoded.get('attStmt')
  const sig = statement?.get('sig')
  if (!(sig instanceof Uint8Array)) return
  const componentBytes = decoded.get('fmt') === 'fido-u2f' ? 32 : COMPONENT_BYTES_BY_ALG.get(Number(statement.get('alg')))
  if (componentBytes === undefined) return
  const problem = derEcdsaProblem(sig, componentBytes)
  if (problem) throw new Error(`the attestation signature is not a DER-encoded ECDSA signature: ${problem}`)
}
