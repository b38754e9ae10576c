import { verifyAuthenticationResponse } from '@simplewebauthn/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { approvalChallenge } from '../../../src/approvals/ceremony/approval-challenge.js'
import type { ApprovalEvidence } from '../../../src/approvals/types.js'
import { verifyApprovalEvidence } from '../../../src/approvals/evidence/verify-approval-evidence.js'
import {
  A,
  ADMIN_TOKEN,
  ceremonyOptions,
  enrol,
  makeApprovalBroker,
  migrateManifest,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
} from '../helpers.js'
import { BER_REENCODINGS } from '../fixtures/ber-signature.js'

let broker: ApprovalBroker
let evidence: ApprovalEvidence

beforeAll(async () => {
  broker = await makeApprovalBroker()
  const dana = broker.authenticator()
  const erin = broker.authenticator()
  await enrol(broker, dana, 'dana@example.com', 'dbas')
  await enrol(broker, erin, 'erin@example.com', 'dbas')
  const pending = await requestApproval(broker, A, migrateManifest())
  for (const auth of [dana, erin]) {
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    expect((await submit(broker, pending.id, 'approve', auth.assert(options))).status).toBe(200)
  }
  expect((await poll(broker, A, pending.auth_req_id)).status).toBe(200)
  const res = await broker.call('GET', `/admin/approvals/${pending.id}/evidence`, { bearer: ADMIN_TOKEN })
  expect(res.status).toBe(200)
  evidence = await res.json()
})
afterAll(() => broker.close())

const copy = (): ApprovalEvidence => structuredClone(evidence)

/** Flips one bit of one byte of a base64url field. */
function flip(b64: string, at = 10): string {
  const bytes = Buffer.from(b64, 'base64url')
  bytes[at % bytes.length] = bytes[at % bytes.length]! ^ 0x01
  return bytes.toString('base64url')
}

describe('verifyApprovalEvidence', () => {
  it('re-verifies a real approval offline: every assertion, by its key, over this manifest', async () => {
    const result = await verifyApprovalEvidence(evidence, { policy: broker.policy.current() })
    expect(result.problems).toEqual([])
    expect(result.ok).toBe(true)
    expect(result.votes.map((v) => [v.sub, v.ok])).toEqual([
      ['dana@example.com', true],
      ['erin@example.com', true],
    ])
    expect(result.manifestSha256).toBe(evidence.manifestSha256)
  })

  it.each<[string, (e: ApprovalEvidence) => void]>([
    ['a character of the task purpose', (e) => (e.manifest.task.purpose = `${e.manifest.task.purpose!.slice(0, -1)}X`)],
    ['the granted action', (e) => (e.manifest.grants[0]!.actions = ['drop'])],
    ['the granted location', (e) => (e.manifest.grants[0]!.locations = ['https://db.example.com/orderz'])],
    ['the recorded manifest hash', (e) => (e.manifestSha256 = `${e.manifestSha256.slice(0, -1)}0`)],
    ['the approval id', (e) => (e.approvalId = `${e.approvalId}x`)],
    ['the client id', (e) => (e.clientId = 'agent-b')],
    ['a byte of authenticatorData', (e) => (e.votes[0]!.authenticatorData = flip(e.votes[0]!.authenticatorData, 3))],
    ['the counter in authenticatorData', (e) => (e.votes[0]!.authenticatorData = flip(e.votes[0]!.authenticatorData, 36))],
    ['a byte of clientDataJSON', (e) => (e.votes[1]!.clientDataJSON = flip(e.votes[1]!.clientDataJSON, 20))],
    ['a byte of the signature', (e) => (e.votes[0]!.signature = flip(e.votes[0]!.signature, 40))],
    ['a byte of the public key', (e) => (e.votes[1]!.publicKey = flip(e.votes[1]!.publicKey, 30))],
    ['the nonce', (e) => (e.votes[0]!.nonce = flip(e.votes[0]!.nonce, 2))],
    ['the challenge expiry', (e) => (e.votes[0]!.exp += 1)],
    ['the RP ID', (e) => (e.rpId = 'evil.example')],
    ['the origin', (e) => (e.origin = 'https://evil.example')],
    ['one vote duplicated over the other', (e) => (e.votes[1] = e.votes[0]!)],
    ['a vote removed', (e) => e.votes.pop()],
  ])('fails when %s is changed', async (_name, tamper) => {
    const changed = copy()
    tamper(changed)
    const result = await verifyApprovalEvidence(changed)
    expect(result.ok).toBe(false)
    expect(result.problems.length).toBeGreaterThan(0)
  })

  it('fails when any single bit of a signature is flipped', async () => {
    const der = Buffer.from(evidence.votes[0]!.signature, 'base64url')
    for (let bit = 0; bit < der.length * 8; bit++) {
      const changed = copy()
      const bytes = Buffer.from(der)
      bytes[bit >> 3] = bytes[bit >> 3]! ^ (1 << (bit & 7))
      changed.votes[0]!.signature = bytes.toString('base64url')
      const result = await verifyApprovalEvidence(changed)
      expect(result.ok, `bit ${bit} flipped`).toBe(false)
    }
  })

  it.each(BER_REENCODINGS)('fails when a signature is re-encoded with %s (same r and s)', async (_name, reencode, reason) => {
    const changed = copy()
    changed.votes[0]!.signature = reencode(Buffer.from(evidence.votes[0]!.signature, 'base64url')).toString('base64url')
    const result = await verifyApprovalEvidence(changed)
    expect(result.ok).toBe(false)
    expect(result.votes[0]!.problem).toMatch(/the signature is not a DER-encoded ECDSA signature/)
    expect(result.votes[0]!.problem).toMatch(reason)
  })

  it('catches a re-encoding SimpleWebAuthn alone accepts (its BER parser reads a wrong SEQUENCE length)', async () => {
    const vote = evidence.votes[0]!
    const [, reencode] = BER_REENCODINGS[0]!
    const signature = reencode(Buffer.from(vote.signature, 'base64url')).toString('base64url')
    const challenge = approvalChallenge({
      approval_id: evidence.approvalId,
      manifest_sha256: evidence.manifestSha256,
      authorization_details: evidence.manifest.grants,
      client_id: evidence.clientId,
      exp: vote.exp,
      nonce: vote.nonce,
    })
    const library = await verifyAuthenticationResponse({
      response: {
        id: vote.credentialId,
        rawId: vote.credentialId,
        type: 'public-key',
        response: { clientDataJSON: vote.clientDataJSON, authenticatorData: vote.authenticatorData, signature },
        clientExtensionResults: {},
      },
      expectedChallenge: challenge,
      expectedOrigin: evidence.origin,
      expectedRPID: evidence.rpId,
      requireUserVerification: true,
      credential: { id: vote.credentialId, publicKey: Buffer.from(vote.publicKey, 'base64url'), counter: 0 },
    })
    expect(library.verified).toBe(true)
    const changed = copy()
    changed.votes[0]!.signature = signature
    expect((await verifyApprovalEvidence(changed)).ok).toBe(false)
  })

  it('reports evidence that is not even well formed, without throwing', async () => {
    const broken = { ...copy(), manifest: { task: { id: 'x' }, grants: [{ type: 'x', n: Number.NaN }] } } as ApprovalEvidence
    const result = await verifyApprovalEvidence(broken)
    expect(result.ok).toBe(false)
    const empty = await verifyApprovalEvidence({ ...copy(), votes: [] })
    expect(empty.problems).toContain('the evidence holds no approval')
  })

  it('with a policy, checks the approvers meet each rule under its groups', async () => {
    const outsider = copy()
    outsider.votes[1]!.sub = 'mallory@example.com'
    const result = await verifyApprovalEvidence(outsider, { policy: broker.policy.current() })
    expect(result.problems).toContain('under the given policy the approvers do not meet every rule')
  })
})
