import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { decodeAttestationObject } from '@simplewebauthn/server/helpers'
import {
  assertCanonicalAttestationSignature,
  derEcdsaProblem,
} from '../../src/approvals/signature-encoding.js'
import { BER_REENCODINGS } from './fixtures/ber-signature.js'
import { AAGUID, ORIGIN } from './helpers.js'
import { SoftAuthenticator } from './fixtures/soft-authenticator.js'

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

describe('assertCanonicalAttestationSignature', () => {
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
    expect(() => assertCanonicalAttestationSignature(registration())).not.toThrow()
  })

  it('throws when the statement signature is re-encoded, or the object is not CBOR', () => {
    const raw = Buffer.from(registration(), 'base64url')
    const sig = Buffer.from(decodeAttestationObject(raw).get('attStmt').get('sig')!)
    const at = raw.indexOf(sig)
    // Same CBOR byte-string size: only the DER length inside it changes.
    raw[at + 1] = raw[at + 1]! - 1
    expect(() => assertCanonicalAttestationSignature(raw.toString('base64url'))).toThrow(
      /attestation signature is not a DER-encoded ECDSA signature: its SEQUENCE says/,
    )
    expect(() => assertCanonicalAttestationSignature('bm90IGNib3I')).toThrow()
  })
})
