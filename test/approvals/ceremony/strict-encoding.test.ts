import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { decodeAttestationObject } from '@simplewebauthn/server/helpers'
import { assertStrictAttestationObject, cborProblem, derEcdsaProblem } from '../../../src/approvals/ceremony/strict-encoding.js'
import { BER_REENCODINGS } from '../fixtures/ber-signature.js'
import { AAGUID, ORIGIN } from '../helpers.js'
import { SoftAuthenticator } from '../fixtures/soft-authenticator.js'

const CURVES = [
  ['P-256', 'prime256v1', 32],
  ['P-384', 'secp384r1', 48],
  ['P-521', 'secp521r1', 66],
] as const

describe('derEcdsaProblem', () => {
  it.each(CURVES)('accepts every DER signature Node makes on %s, short r and s included', (_name, curve, bytes) => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: curve })
    const sizes = new Set<number>()
    for (let i = 0; i < 400; i++) {
      const der = sign('sha256', Buffer.from(`message ${i}`), privateKey)
      expect(derEcdsaProblem(der, bytes)).toBeUndefined()
      sizes.add(der.length)
    }
    // Lengths vary with the leading bytes of r and s: both padded and short integers occurred.
    expect(sizes.size).toBeGreaterThan(2)
  })

  it.each(BER_REENCODINGS)('refuses a P-256 signature re-encoded with %s, saying why', (_name, reencode, reason) => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const der = sign('sha256', Buffer.from('message'), privateKey)
    expect(derEcdsaProblem(reencode(der), 32)).toMatch(reason)
  })

  it('refuses integers too long for the curve, negative integers and truncations', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
    const der = sign('sha256', Buffer.from('message'), privateKey)
    expect(derEcdsaProblem(der, 32)).toMatch(/impossible length|longer than the curve allows/)
    expect(derEcdsaProblem(Buffer.from([0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01]), 32)).toBe('r is negative')
    for (let end = 0; end < der.length; end++) expect(derEcdsaProblem(der.subarray(0, end), 48)).toBeDefined()
  })
})

describe('assertStrictAttestationObject', () => {
  const registration = () => {
    const auth = new SoftAuthenticator({ aaguid: AAGUID, origin: ORIGIN, attestation: { fmt: 'packed-self' } })
    return auth.register({
      challenge: 'Y2hhbGxlbmdl',
      rp: { id: 'writ.test', name: 'writ' },
      user: { id: 'dXNlcg', name: 'alice', displayName: 'alice' },
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    }).response.attestationObject
  }

  it('passes a packed statement signed in DER', () => {
    expect(() => assertStrictAttestationObject(registration())).not.toThrow()
  })

  it('throws when the statement signature is re-encoded, or the object is not CBOR', () => {
    const raw = Buffer.from(registration(), 'base64url')
    const sig = Buffer.from(decodeAttestationObject(raw).get('attStmt').get('sig')!)
    const at = raw.indexOf(sig)
    // Same CBOR byte-string size: only the DER length inside it changes.
    raw[at + 1] = raw[at + 1]! - 1
    expect(() => assertStrictAttestationObject(raw.toString('base64url'))).toThrow(
      /attestation signature is not a DER-encoded ECDSA signature: its SEQUENCE says/,
    )
    expect(() => assertStrictAttestationObject('bm90IGNib3I')).toThrow(/not well-formed CBOR/)
  })

  it('throws when a byte string claims more bytes than follow, or bytes follow the object', () => {
    const raw = Buffer.from(registration(), 'base64url')
    const authData = Buffer.from(decodeAttestationObject(raw).get('authData'))
    const at = raw.indexOf(authData)
    // authData is the last member: 0x58 <one-byte length> <bytes>. A longer length is cut to what
    // is there by SimpleWebAuthn's decoder, and so reads as the same authenticator data.
    expect(raw[at - 2]).toBe(0x58)
    const longer = Buffer.from(raw)
    longer[at - 1] = longer[at - 1]! + 1
    expect(() => assertStrictAttestationObject(longer.toString('base64url'))).toThrow(
      /the string at byte \d+ says \d+ bytes but \d+ follow/,
    )
    const trailing = Buffer.concat([raw, Buffer.from([0])]).toString('base64url')
    expect(() => assertStrictAttestationObject(trailing)).toThrow(/1 bytes follow it/)
  })
})

describe('cborProblem', () => {
  it.each<[string, number[]]>([
    ['an unsigned integer', [0x18, 0xff]],
    ['a negative integer', [0x39, 0x01, 0x00]],
    ['a byte string', [0x43, 1, 2, 3]],
    ['a text string', [0x62, 0x68, 0x69]],
    ['an array of maps', [0x82, 0xa1, 0x01, 0x02, 0xa0]],
    ['a tagged item', [0xc0, 0x61, 0x41]],
    ['a float and simple values', [0x83, 0xf9, 0x3c, 0x00, 0xf5, 0xf6]],
    ['a 64-bit length', [0x5b, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa]],
  ])('takes %s', (_name, bytes) => {
    expect(cborProblem(Uint8Array.from(bytes))).toBeUndefined()
  })

  it.each<[string, number[], RegExp]>([
    ['nothing', [], /cut off at byte 0/],
    ['a cut-off argument', [0x19, 0x01], /argument of the item at byte 0 is cut off/],
    ['a string longer than what follows', [0x44, 1, 2, 3], /says 4 bytes but 3 follow/],
    ['a huge declared length', [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], /says \d+ bytes but 0 follow/],
    ['an array missing an item', [0x82, 0x01], /cut off at byte 2/],
    ['a map missing a value', [0xa1, 0x01], /cut off at byte 2/],
    ['a huge array count', [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /cut off at byte 10/],
    ['an indefinite length', [0x5f, 0x41, 0x00, 0xff], /indefinite length/],
    ['reserved additional information', [0x1c], /reserved additional information 28/],
    ['a trailing byte', [0x01, 0x02], /1 bytes follow it/],
    ['nesting 17 arrays deep', [...Array(17).fill(0x81), 0x01], /nests deeper than 16/],
  ])('names %s', (_name, bytes, reason) => {
    expect(cborProblem(Uint8Array.from(bytes))).toMatch(reason)
  })
})
