import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AAGUID,
  ADMIN_TOKEN,
  enrol,
  json,
  makeApprovalBroker,
  PKI,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import { decodeAttestationObject } from '@simplewebauthn/server/helpers'
import { attestationPki, issueCertificate } from '../approvals/fixtures/x509.js'
import type { AttestationMode } from '../approvals/fixtures/soft-authenticator.js'

let broker: ApprovalBroker
const OTHER_AAGUID = '11111111-2222-3333-4444-555555555555'

/** Another model from the same (trusted) vendor: only the allow-list keeps it out. */
function otherModel(): AttestationMode {
  const leaf = issueCertificate({
    subject: { C: 'US', O: 'Test Vendor', OU: 'Authenticator Attestation', CN: 'Other Model' },
    issuer: PKI.intermediate,
    ca: false,
    aaguid: OTHER_AAGUID,
  })
  return { fmt: 'packed', leaf, chain: [PKI.intermediate] }
}

beforeAll(async () => {
  broker = await makeApprovalBroker()
})
afterAll(() => broker.close())

async function invite(approver = 'alice@example.com', group = 'release-managers'): Promise<string> {
  const res = await broker.call('POST', '/admin/approvers/invites', { ...json({ approver, group }), bearer: ADMIN_TOKEN })
  expect(res.status).toBe(201)
  return new URL((await res.json()).invite_url).pathname
}

async function register(path: string, attestation?: AttestationMode, aaguid?: string, overrides = {}) {
  const options = await (await broker.call('POST', `${path}/options`, json({}))).json()
  const auth = broker.authenticator(attestation, aaguid)
  return broker.call('POST', `${path}/verify`, json(auth.register(options, overrides)))
}

describe('enrolment', () => {
  it('enrols a key with packed attestation chained to the configured root, once per invite', async () => {
    const path = await invite()
    const page = await broker.call('GET', path)
    expect(page.status).toBe(200)
    const text = await page.text()
    expect(text).toContain('alice@example.com')
    expect(text).toContain('release-managers')
    expect(page.headers.get('referrer-policy')).toBe('no-referrer')

    const options = await (await broker.call('POST', `${path}/options`, json({}))).json()
    expect(options).toMatchObject({
      attestation: 'direct',
      rp: { id: 'writ.test' },
      authenticatorSelection: { userVerification: 'required' },
      user: { name: 'alice@example.com' },
    })
    const auth = broker.authenticator()
    const res = await broker.call('POST', `${path}/verify`, json(auth.register(options)))
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      approver: 'alice@example.com',
      group: 'release-managers',
      aaguid: AAGUID,
      fmt: 'packed',
      attestation: 'verified',
    })
    // The invite is used up: its page, options and verify all answer 404.
    expect((await broker.call('GET', path)).status).toBe(404)
    expect((await broker.call('POST', `${path}/options`, json({}))).status).toBe(404)
    expect((await broker.call('POST', `${path}/verify`, json(auth.register(options)))).status).toBe(404)
  })

  it.each([
    ['none attestation', { fmt: 'none' } as AttestationMode, AAGUID, /"none" is not accepted/],
    ['self attestation', { fmt: 'packed-self' } as AttestationMode, AAGUID, /self attestation/],
    ['an AAGUID not on the allow-list', otherModel(), OTHER_AAGUID, /allow-list/],
  ])('refuses %s in strict mode, and the invite stays usable', async (_name, attestation, aaguid, message) => {
    const path = await invite()
    const refused = await register(path, attestation, aaguid)
    expect(refused.status).toBe(403)
    expect((await refused.json()).error_description).toMatch(message)
    expect((await register(path)).status).toBe(200)
  })

  it('refuses an attestation chain to a root the broker does not trust', async () => {
    const rogue = attestationPki(AAGUID, 'Rogue')
    const res = await register(await invite(), { fmt: 'packed', leaf: rogue.leaf, chain: [rogue.intermediate] })
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toMatch(/not trusted/)
  })

  it.each([
    ['without user verification', { uv: false }],
    ['for another origin', { origin: 'https://evil.example' }],
    ['for another RP ID', { rpId: 'evil.example' }],
    ['for another challenge', { challenge: 'b3RoZXI' }],
  ])('refuses a registration made %s', async (_name, overrides) => {
    const res = await register(await invite(), undefined, undefined, overrides)
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toBe('the security key registration was not accepted')
  })

  /** Where a member's bytes sit in an attestation object. */
  const offsetOf = (raw: Buffer<ArrayBuffer>, member: 'sig' | 'authData'): number => {
    const decoded = decodeAttestationObject(raw)
    return raw.indexOf(Buffer.from(member === 'sig' ? decoded.get('attStmt').get('sig')! : decoded.get('authData')))
  }

  it.each<[string, (raw: Buffer<ArrayBuffer>) => Buffer]>([
    [
      // The same CBOR byte string, with a BER-only ECDSA-Sig-Value inside.
      'its statement signature re-encoded (the DER length one short)',
      (raw) => {
        const at = offsetOf(raw, 'sig') + 1
        return Buffer.concat([raw.subarray(0, at), Buffer.from([raw[at]! - 1]), raw.subarray(at + 1)])
      },
    ],
    [
      // authData (the last member) claims a byte more than follows: SimpleWebAuthn alone cuts it to
      // what is there, and so accepted this (a fuzz run found it).
      'a cut-off authData',
      (raw) => {
        const at = offsetOf(raw, 'authData') - 1
        return Buffer.concat([raw.subarray(0, at), Buffer.from([raw[at]! + 1]), raw.subarray(at + 1)])
      },
    ],
    // SimpleWebAuthn alone ignores what follows the first item.
    ['a byte after the object', (raw) => Buffer.concat([raw, Buffer.from([0xf6])])],
    [
      // The library's CBOR decoder refuses a key twice itself (kept so an upgrade that stops doing
      // so is noticed).
      'a second "fmt" ("none") ahead of the real one',
      (raw) => Buffer.concat([Buffer.from([raw[0]! + 1]), Buffer.from('63666d74646e6f6e65', 'hex'), raw.subarray(1)]),
    ],
  ])('refuses a registration whose attestation object has %s, and keeps the invite', async (_name, malform) => {
    const path = await invite()
    const options = await (await broker.call('POST', `${path}/options`, json({}))).json()
    const registration = broker.authenticator().register(options)
    const raw = Buffer.from(registration.response.attestationObject, 'base64url')
    registration.response.attestationObject = malform(raw).toString('base64url')
    const res = await broker.call('POST', `${path}/verify`, json(registration))
    expect(res.status).toBe(403)
    expect((await res.json()).error_description).toBe('the security key registration was not accepted')
    expect((await register(path)).status).toBe(200)
  })

  it('uses a registration challenge once', async () => {
    const path = await invite()
    const options = await (await broker.call('POST', `${path}/options`, json({}))).json()
    const auth = broker.authenticator()
    const first = auth.register(options, { uv: false })
    expect((await broker.call('POST', `${path}/verify`, json(first))).status).toBe(403)
    const replay = auth.register(options)
    expect((await broker.call('POST', `${path}/verify`, json(replay))).status).toBe(403)
  })

  it('excludes the approver\'s enrolled keys from new registrations', async () => {
    const auth = broker.authenticator()
    await enrol(broker, auth, 'bob@example.com', 'release-managers')
    const path = await invite('bob@example.com')
    const options = await (await broker.call('POST', `${path}/options`, json({}))).json()
    expect(options.excludeCredentials).toHaveLength(1)
    const res = await broker.call('POST', `${path}/verify`, json(auth.register(options)))
    expect(res.status).toBe(200) // the same authenticator makes a new credential: a new key
  })

  it('answers 404 pages for unknown invites', async () => {
    const res = await broker.call('GET', `/enroll/${'A'.repeat(43)}`)
    expect(res.status).toBe(404)
    expect(await res.text()).toContain('Invite not valid')
    expect((await broker.call('GET', '/enroll/short')).status).toBe(404)
  })
})

describe('POST /admin/approvers/invites', () => {
  it('needs the admin token', async () => {
    const res = await broker.call('POST', '/admin/approvers/invites', json({ approver: 'alice@example.com', group: 'release-managers' }))
    expect(res.status).toBe(401)
    const wrong = await broker.call('POST', '/admin/approvers/invites', {
      ...json({ approver: 'alice@example.com', group: 'release-managers' }),
      bearer: 'wrong-token',
    })
    expect(wrong.status).toBe(401)
  })

  it.each([
    [{ approver: 'mallory@example.com', group: 'release-managers' }, /^approver: mallory@example.com is not a member/],
    [{ approver: 'alice@example.com', group: 'nope' }, /^group: unknown approver group/],
    [{ approver: 'alice@example.com' }, /^group: required/],
    [{ approver: 'alice@example.com', group: 'release-managers', extra: 1 }, /unknown field "extra"/],
  ])('names the field at fault: %j', async (body, message) => {
    const res = await broker.call('POST', '/admin/approvers/invites', { ...json(body), bearer: ADMIN_TOKEN })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toMatch(message)
  })

  it('lists enrolled keys for admins', async () => {
    const res = await broker.call('GET', '/admin/approvers/keys', { bearer: ADMIN_TOKEN })
    expect(res.status).toBe(200)
    const { keys } = await res.json()
    expect(keys.length).toBeGreaterThan(0)
    expect(keys[0]).toMatchObject({ aaguid: AAGUID, fmt: 'packed', attestation: 'verified' })
    expect(PKI.root.cert.ca).toBe(true)
  })
})

describe('dev-mode attestation', () => {
  it('is refused by config unless the broker is in dev mode', async () => {
    await expect(
      makeApprovalBroker({ config: { devMode: false, approvals: { attestation: { mode: 'dev' } } } }),
    ).rejects.toThrow(/approvals.attestation.mode: dev relaxes security key attestation and needs devMode/)
  })

  it('accepts none attestation, records it as relaxed and says so on the page', async () => {
    const dev = await makeApprovalBroker({ config: { approvals: { attestation: { mode: 'dev' } } } })
    try {
      const res = await dev.call('POST', '/admin/approvers/invites', {
        ...json({ approver: 'alice@example.com', group: 'release-managers' }),
        bearer: ADMIN_TOKEN,
      })
      const path = new URL((await res.json()).invite_url).pathname
      expect(await (await dev.call('GET', path)).text()).toContain('DEV MODE')
      const options = await (await dev.call('POST', `${path}/options`, json({}))).json()
      const out = await dev.call('POST', `${path}/verify`, json(dev.authenticator({ fmt: 'none' }).register(options)))
      expect(await out.json()).toMatchObject({ fmt: 'none', attestation: 'relaxed', warning: expect.stringMatching(/none/) })
    } finally {
      await dev.close()
    }
  })
})
