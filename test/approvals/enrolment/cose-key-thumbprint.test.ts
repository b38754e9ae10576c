import { generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint } from 'jose'
import { describe, expect, it } from 'vitest'
import { coseKeyThumbprint } from '../../../src/approvals/enrolment/cose-key-thumbprint.js'
import { cbor } from '../fixtures/cbor.js'

const b = (s: string | undefined): Buffer => Buffer.from(s!, 'base64url')

describe('coseKeyThumbprint', () => {
  it('is the RFC 7638 thumbprint of the same key as a JWK, for each algorithm enrolment accepts', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
    const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' })
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' })
    const cases: Array<[Map<number, number | Uint8Array>, Record<string, string>]> = [
      [new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, b(ec.x)], [-3, b(ec.y)]]), { kty: 'EC', crv: 'P-256', x: ec.x!, y: ec.y! }],
      [new Map<number, number | Uint8Array>([[1, 1], [3, -8], [-1, 6], [-2, b(ed.x)]]), { kty: 'OKP', crv: 'Ed25519', x: ed.x! }],
      [new Map<number, number | Uint8Array>([[1, 3], [3, -257], [-1, b(rsa.n)], [-2, b(rsa.e)]]), { kty: 'RSA', n: rsa.n!, e: rsa.e! }],
    ]
    for (const [cose, jwk] of cases) {
      const expected = await calculateJwkThumbprint(jwk, 'sha256')
      expect(await coseKeyThumbprint(cbor(cose))).toBe(expected)
      expect(await coseKeyThumbprint(cbor(cose).toString('base64url'))).toBe(expected)
    }
  })

  it('names the same key the same whatever member order its CBOR has, and refuses what is not a key', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
    const one = cbor(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, b(ec.x)], [-3, b(ec.y)]]))
    const other = cbor(new Map<number, number | Uint8Array>([[-3, b(ec.y)], [-2, b(ec.x)], [-1, 1], [3, -7], [1, 2]]))
    expect(await coseKeyThumbprint(other)).toBe(await coseKeyThumbprint(one))
    await expect(coseKeyThumbprint(cbor(new Map<number, number>([[1, 4]])))).rejects.toThrow(/COSE key type 4 is not supported/)
    await expect(coseKeyThumbprint(cbor(new Map<number, number | Uint8Array>([[1, 2], [-1, 8], [-2, b(ec.x)], [-3, b(ec.y)]])))).rejects.toThrow(/curve 8 is not supported/)
    await expect(coseKeyThumbprint(cbor(new Map<number, number>([[1, 2], [-1, 1]])))).rejects.toThrow(/has no x/)
  })
})
