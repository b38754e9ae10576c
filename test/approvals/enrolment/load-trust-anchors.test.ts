import { CompactSign } from 'jose'
import { describe, expect, it } from 'vitest'
import { loadTrustAnchors } from '../../../src/approvals/enrolment/load-trust-anchors.js'
import { manualClock } from '../../../src/clock.js'
import { ConfigError } from '../../../src/config.js'
import { attestationPki, issueCertificate } from '../fixtures/x509.js'

const AAGUID = 'cb69481e-8ff7-4039-93ec-0a2729a154a8'
const model = attestationPki(AAGUID, 'Model')
const mdsRoot = issueCertificate({ subject: { C: 'US', O: 'Test FIDO', CN: 'Test MDS Root' }, ca: true })
const mdsSigner = issueCertificate({ subject: { C: 'US', O: 'Test FIDO', CN: 'Test MDS Signer' }, issuer: mdsRoot, ca: false })

async function blob(payload: unknown, signer = mdsSigner, chain = [mdsSigner, mdsRoot]): Promise<string> {
  return new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c: chain.map((c) => c.der.toString('base64')) })
    .sign(signer.privateKey)
}

const entry = (aaguid: string, status = 'FIDO_CERTIFIED_L1') => ({
  aaguid,
  metadataStatement: { description: 'Test Key', attestationRootCertificates: [model.root.der.toString('base64')] },
  statusReports: [{ status }],
})

function files(map: Record<string, string>) {
  return (path: string): string => {
    const text = map[path]
    if (text === undefined) throw new Error(`ENOENT: no such file ${path}`)
    return text
  }
}

const clock = manualClock(Date.now())

describe('loadTrustAnchors', () => {
  it('loads root certificates from PEM files, several per file', async () => {
    const trust = await loadTrustAnchors({
      rootCertificateFiles: ['/roots.pem'],
      readFile: files({ '/roots.pem': model.root.pem + mdsRoot.pem }),
      clock,
    })
    expect(trust.roots.map((c) => c.subject)).toEqual([model.root.cert.subject, mdsRoot.cert.subject])
  })

  it('loads a FIDO MDS blob verified against its root: roots per AAGUID, compromised models marked', async () => {
    const text = await blob({ no: 1, nextUpdate: '2999-01-01', entries: [entry(AAGUID), entry('11111111-1111-1111-1111-111111111111', 'ATTESTATION_KEY_COMPROMISE'), { aaid: '1234#5678' }] })
    const trust = await loadTrustAnchors({
      rootCertificateFiles: [],
      mdsBlobFile: '/mds.jwt',
      mdsRootCertificateFile: '/mds-root.pem',
      readFile: files({ '/mds.jwt': text, '/mds-root.pem': mdsRoot.pem }),
      clock,
    })
    expect(trust.metadata.get(AAGUID)).toMatchObject({ description: 'Test Key', roots: [expect.anything()] })
    expect(trust.metadata.get(AAGUID)?.compromised).toBeUndefined()
    expect(trust.metadata.get('11111111-1111-1111-1111-111111111111')?.compromised).toBe('ATTESTATION_KEY_COMPROMISE')
    expect(trust.warnings).toEqual([])
  })

  it('warns about a stale blob', async () => {
    const text = await blob({ no: 1, nextUpdate: '2020-01-01', entries: [] })
    const trust = await loadTrustAnchors({
      rootCertificateFiles: [],
      mdsBlobFile: '/mds.jwt',
      mdsRootCertificateFile: '/mds-root.pem',
      readFile: files({ '/mds.jwt': text, '/mds-root.pem': mdsRoot.pem }),
      clock,
    })
    expect(trust.warnings[0]).toMatch(/stale/)
  })

  it('refuses a blob signed under another root, a tampered blob, and a blob without its root', async () => {
    const rogueRoot = issueCertificate({ subject: { C: 'US', O: 'Rogue', CN: 'Rogue Root' }, ca: true })
    const rogueSigner = issueCertificate({ subject: { C: 'US', O: 'Rogue', CN: 'Rogue Signer' }, issuer: rogueRoot, ca: false })
    const rogue = await blob({ entries: [] }, rogueSigner, [rogueSigner, rogueRoot])
    const good = await blob({ entries: [entry(AAGUID)] })
    const [h, , sig] = good.split('.')
    const tampered = `${h}.${Buffer.from(JSON.stringify({ entries: [] })).toString('base64url')}.${sig}`
    for (const text of [rogue, tampered]) {
      const err = await loadTrustAnchors({
        rootCertificateFiles: [],
        mdsBlobFile: '/mds.jwt',
        mdsRootCertificateFile: '/mds-root.pem',
        readFile: files({ '/mds.jwt': text, '/mds-root.pem': mdsRoot.pem }),
        clock,
      }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as ConfigError).problems[0]).toMatch(/^approvals.attestation.mdsBlobFile \/mds.jwt: /)
    }
    await expect(
      loadTrustAnchors({ rootCertificateFiles: [], mdsBlobFile: '/mds.jwt', readFile: files({}), clock }),
    ).rejects.toThrow(/mdsRootCertificateFile: required with mdsBlobFile/)
  })

  it('lists every unreadable or empty file at once', async () => {
    const err = (await loadTrustAnchors({
      rootCertificateFiles: ['/missing.pem', '/empty.pem'],
      readFile: files({ '/empty.pem': 'not a certificate' }),
      clock,
    }).catch((e: unknown) => e)) as ConfigError
    expect(err.problems).toHaveLength(2)
    expect(err.problems[0]).toMatch(/missing.pem: ENOENT/)
    expect(err.problems[1]).toMatch(/empty.pem: no PEM certificate found/)
  })
})
