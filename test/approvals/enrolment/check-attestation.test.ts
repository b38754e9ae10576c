import { verifyRegistrationResponse } from '@simplewebauthn/server'
import { decodeAttestationObject } from '@simplewebauthn/server/helpers'
import { describe, expect, it } from 'vitest'
import { type AttestationPolicy, checkAttestation } from '../../../src/approvals/enrolment/check-attestation.js'
import { verifyCertificateChain } from '../../../src/approvals/enrolment/verify-certificate-chain.js'
import { WritError } from '../../../src/errors.js'
import { type AttestationMode, SoftAuthenticator } from '../fixtures/soft-authenticator.js'
import { attestationPki, issueCertificate } from '../fixtures/x509.js'

const AAGUID = '3b8a3f6e-2c4d-4e5f-8a9b-0c1d2e3f4a5b'
const ORIGIN = 'https://writ.test'
const pki = attestationPki(AAGUID)
const packed: AttestationMode = { fmt: 'packed', leaf: pki.leaf, chain: [pki.intermediate] }

const policy = (over: Partial<AttestationPolicy> = {}): AttestationPolicy => ({
  mode: 'strict',
  allowedAaguids: new Set([AAGUID]),
  trust: { roots: [pki.root.cert], metadata: new Map(), warnings: [] },
  ...over,
})

/** A registration from a software authenticator, verified as enrolment does, then judged. */
async function attest(attestation: AttestationMode, p: AttestationPolicy, aaguid = AAGUID, nowMs = Date.now()) {
  const auth = new SoftAuthenticator({ aaguid, origin: ORIGIN, attestation })
  const options = {
    challenge: 'Y2hhbGxlbmdl',
    rp: { id: 'writ.test', name: 'writ' },
    user: { id: 'dXNlcg', name: 'alice', displayName: 'alice' },
    pubKeyCredParams: [{ type: 'public-key' as const, alg: -7 }],
  }
  const verified = await verifyRegistrationResponse({
    response: auth.register(options),
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: 'writ.test',
  })
  expect(verified.verified).toBe(true)
  const info = verified.registrationInfo!
  const x5c = decodeAttestationObject(info.attestationObject).get('attStmt').get('x5c')
  return checkAttestation(p, { fmt: info.fmt, aaguid: info.aaguid, x5c, nowMs })
}

const refusal = async (run: Promise<unknown>): Promise<WritError> => {
  const err = await run.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(WritError)
  expect((err as WritError).code).toBe('access_denied')
  return err as WritError
}

describe('checkAttestation (strict)', () => {
  it('accepts packed attestation chained through an intermediate to a configured root', async () => {
    expect(await attest(packed, policy())).toEqual({ attestation: 'verified' })
  })

  it('accepts a chain whose x5c includes the root itself', async () => {
    expect(await attest({ fmt: 'packed', leaf: pki.leaf, chain: [pki.intermediate, pki.root] }, policy())).toEqual({
      attestation: 'verified',
    })
  })

  it('refuses none attestation', async () => {
    const err = await refusal(attest({ fmt: 'none' }, policy()))
    expect(err.message).toMatch(/attestation format "none" is not accepted/)
  })

  it('refuses self attestation (packed without x5c)', async () => {
    const err = await refusal(attest({ fmt: 'packed-self' }, policy()))
    expect(err.message).toMatch(/self attestation is not accepted/)
  })

  it('refuses an AAGUID that is not on the allow-list', async () => {
    const err = await refusal(attest(packed, policy({ allowedAaguids: new Set(['00000000-0000-0000-0000-000000000001']) })))
    expect(err.message).toMatch(/not on the broker's allow-list/)
  })

  it('refuses every key while the allow-list is empty', async () => {
    await refusal(attest(packed, policy({ allowedAaguids: new Set() })))
  })

  it('refuses a chain to a root that is not configured', async () => {
    const other = attestationPki(AAGUID, 'Rogue')
    const err = await refusal(attest({ fmt: 'packed', leaf: other.leaf, chain: [other.intermediate] }, policy()))
    expect(err.message).toMatch(/not trusted/)
    expect(err.detail).toMatch(/does not lead to a configured trust anchor/)
  })

  it('refuses when no trust anchor is configured at all', async () => {
    const err = await refusal(attest(packed, policy({ trust: { roots: [], metadata: new Map(), warnings: [] } })))
    expect(err.message).toMatch(/no attestation trust anchor/)
  })

  it('refuses a chain that skips the intermediate (leaf not issued by the root)', async () => {
    await refusal(attest({ fmt: 'packed', leaf: pki.leaf, chain: [] }, policy()))
  })

  it('uses the FIDO MDS roots for a model the blob lists, and refuses a compromised model', async () => {
    const metadata = new Map([[AAGUID, { aaguid: AAGUID, roots: [pki.root.cert] }]])
    const viaMds = policy({ trust: { roots: [], metadata, warnings: [] } })
    expect(await attest(packed, viaMds)).toEqual({ attestation: 'verified' })
    const compromised = new Map([[AAGUID, { aaguid: AAGUID, roots: [pki.root.cert], compromised: 'ATTESTATION_KEY_COMPROMISE' }]])
    const err = await refusal(attest(packed, policy({ trust: { roots: [pki.root.cert], metadata: compromised, warnings: [] } })))
    expect(err.message).toMatch(/ATTESTATION_KEY_COMPROMISE/)
  })
})

describe('checkAttestation (dev mode)', () => {
  it('accepts none and self attestation, saying why strict mode would refuse them', async () => {
    const relaxed = policy({ mode: 'relaxed' })
    expect(await attest({ fmt: 'none' }, relaxed)).toMatchObject({ attestation: 'relaxed', wouldRefuse: expect.stringMatching(/none/) })
    expect(await attest({ fmt: 'packed-self' }, relaxed)).toMatchObject({ attestation: 'relaxed' })
    expect(await attest(packed, relaxed)).toEqual({ attestation: 'verified' })
  })
})

describe('verifyCertificateChain', () => {
  it('judges validity periods by the clock it is given', () => {
    const chain = [pki.leaf.cert, pki.intermediate.cert]
    expect(verifyCertificateChain(chain, [pki.root.cert], Date.now()).ok).toBe(true)
    const later = Date.now() + 10 * 365 * 24 * 3600 * 1000
    const result = verifyCertificateChain(chain, [pki.root.cert], later)
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/validity period/) })
  })

  it('refuses an issuer that is not a CA', () => {
    const notCa = issueCertificate({ subject: { C: 'US', O: 'X', CN: 'Not a CA' }, issuer: pki.root, ca: false })
    const leaf = issueCertificate({ subject: { C: 'US', O: 'X', OU: 'Authenticator Attestation', CN: 'leaf' }, issuer: notCa, ca: false })
    expect(verifyCertificateChain([leaf.cert, notCa.cert], [pki.root.cert], Date.now()).ok).toBe(false)
  })

  it('refuses an empty chain and an overlong one', () => {
    expect(verifyCertificateChain([], [pki.root.cert], Date.now()).ok).toBe(false)
    expect(verifyCertificateChain(Array(7).fill(pki.leaf.cert), [pki.root.cert], Date.now()).ok).toBe(false)
  })
})
