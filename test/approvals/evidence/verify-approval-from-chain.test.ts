import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server'
import type { JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { coseKeyThumbprint } from '../../../src/approvals/enrolment/cose-key-thumbprint.js'
import { loadTrustAnchors, type TrustAnchors } from '../../../src/approvals/enrolment/load-trust-anchors.js'
import type { ApprovalEvidence } from '../../../src/approvals/types.js'
import { verifyApprovalEvidence } from '../../../src/approvals/evidence/verify-approval-evidence.js'
import { verifyApprovalFromChain } from '../../../src/approvals/evidence/verify-approval-from-chain.js'
import { createMemoryAuditLog } from '../../../src/audit/memory-audit-log.js'
import type { AuditEventInput } from '../../../src/audit/types.js'
import { manualClock, systemClock } from '../../../src/clock.js'
import { testKeys } from '../../audit/helpers.js'
import {
  A,
  AAGUID,
  ADMIN_TOKEN,
  ceremonyOptions,
  deployManifest,
  enrolCast,
  json,
  makeApprovalBroker,
  migrateManifest,
  PKI,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
  type Cast,
} from '../helpers.js'
import type { SoftAuthenticator } from '../fixtures/soft-authenticator.js'

let broker: ApprovalBroker
let cast: Cast
let trust: TrustAnchors
let dir: string

beforeAll(async () => {
  broker = await makeApprovalBroker()
  cast = await enrolCast(broker)
  dir = mkdtempSync(join(tmpdir(), 'writ-chain-approval-'))
  const roots = join(dir, 'roots.pem')
  writeFileSync(roots, PKI.root.pem)
  trust = await loadTrustAnchors({ rootCertificateFiles: [roots], readFile: (p) => readFileSync(p, 'utf8'), clock: systemClock })
})
afterAll(async () => {
  await broker?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** The sealed JSON Lines export of the whole log, and the keys that sign it. */
async function exported(): Promise<{ chain: string; jwks: { keys: JWK[] } }> {
  const res = await broker.call('GET', '/admin/audit?format=jsonl&limit=10000', { bearer: ADMIN_TOKEN })
  expect(res.status).toBe(200)
  const jwks = (await (await broker.call('GET', '/.well-known/jwks.json')).json()) as { keys: JWK[] }
  return { chain: await res.text(), jwks }
}

/** A request `approvers` approve and agent-a collects: the grant, its approval and evidence. */
async function approved(manifest: unknown, approvers: SoftAuthenticator[]) {
  const pending = await requestApproval(broker, A, manifest)
  for (const auth of approvers) {
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    expect((await submit(broker, pending.id, 'approve', auth.assert(options))).status).toBe(200)
  }
  broker.clock.advance(5000)
  const res = await poll(broker, A, pending.auth_req_id)
  expect(res.status).toBe(200)
  const grant = ((await res.json()) as { grant_id: string }).grant_id
  const evidence = (await broker.approvals.getEvidence(pending.id))!
  return { grant, approval: pending.id, evidence }
}

describe('verifyApprovalFromChain', () => {
  it('verifies a 2-of-2 approval from the chain export and the trust anchors, naming where each key was enrolled', async () => {
    const { grant, evidence } = await approved(migrateManifest(), [cast.dana, cast.erin])
    const { chain, jwks } = await exported()
    const result = await verifyApprovalFromChain({ grantId: grant, evidence, chain }, { jwks, trust, policy: broker.policy.current(), allowedAaguids: new Set([AAGUID]) })
    expect(result.problems).toEqual([])
    expect(result.ok).toBe(true)
    expect(result.votes.map((v) => [v.sub, v.ok])).toEqual([['dana@example.com', true], ['erin@example.com', true]])
    expect(result.keys).toEqual([
      { credentialId: cast.keys.dana, approver: 'dana@example.com', enrolledAtSeq: expect.any(Number), thumbprint: await coseKeyThumbprint(cast.dana.credentials.get(cast.keys.dana)!.cose) },
      { credentialId: cast.keys.erin, approver: 'erin@example.com', enrolledAtSeq: expect.any(Number), thumbprint: await coseKeyThumbprint(cast.erin.credentials.get(cast.keys.erin)!.cose) },
    ])
  })

  it("refuses evidence of another approval than the grant's, and names approvers the grant did not record", async () => {
    const first = await approved(deployManifest({ task: { id: 'CHAIN-1', purpose: 'Deploy', requested_by: 'carol@example.com' } }), [cast.alice])
    const second = await approved(deployManifest({ task: { id: 'CHAIN-2', purpose: 'Deploy', requested_by: 'carol@example.com' } }), [cast.bob])
    const { chain, jwks } = await exported()
    const result = await verifyApprovalFromChain({ grantId: first.grant, evidence: second.evidence, chain }, { jwks, trust })
    expect(result.ok).toBe(false)
    expect(result.problems).toContain(`the evidence is for approval ${second.approval}, but grant ${first.grant} was issued for approval ${first.approval}`)
    expect(result.problems.join('\n')).toMatch(/the grant\.issued event \(seq \d+\) names approvers \[alice@example\.com with key .+\], the evidence \[bob@example\.com with key .+\]/)
    expect(result.problems.join('\n')).toMatch(/the evidence's manifest hashes to [0-9a-f]{64}, but grant .+ was issued for [0-9a-f]{64}/)
  })

  it('reads nothing from a chain that does not verify, and says when the grant is not in it', async () => {
    const { grant, evidence } = await approved(deployManifest(), [cast.alice])
    const { chain, jwks } = await exported()
    const unsealed = chain.split('\n').filter((l) => !l.includes('"type":"audit.seal"')).join('\n')
    const result = await verifyApprovalFromChain({ grantId: grant, evidence, chain: unsealed }, { jwks, trust })
    expect(result.ok).toBe(false)
    expect(result.problems).toEqual([expect.stringMatching(/^the audit chain export does not verify: line \d+: no export seal after the last event/)])
    expect(result.votes).toEqual([])
    const missing = await verifyApprovalFromChain({ grantId: 'no-such-grant', evidence, chain }, { jwks, trust })
    expect(missing.problems).toEqual([expect.stringMatching(/^the audit chain export \(seq 1 to \d+\) has no grant\.issued event for grant no-such-grant$/)])
  })

  it('refuses a key removed before the grant was issued, and an enrolment record that carries no key', async () => {
    // A removal on record before the grant: no vote by the key counts for it.
    const pending = await requestApproval(broker, A, deployManifest({ task: { id: 'CHAIN-REMOVED', requested_by: 'carol@example.com' } }))
    const options = await ceremonyOptions(broker, pending.id, 'approve')
    expect((await submit(broker, pending.id, 'approve', cast.bob.assert(options))).status).toBe(200)
    await broker.audit.log!.append({ type: 'approver.key_removed', actor: 'admin', approver: 'bob@example.com', credential_id: cast.keys.bob, reason: 'lost on a train' })
    broker.clock.advance(5000)
    const res = await poll(broker, A, pending.auth_req_id)
    expect(res.status).toBe(200)
    const grant = ((await res.json()) as { grant_id: string }).grant_id
    const { chain, jwks } = await exported()
    const removed = await verifyApprovalFromChain({ grantId: grant, evidence: (await broker.approvals.getEvidence(pending.id))!, chain }, { jwks, trust })
    expect(removed.ok).toBe(false)
    expect(removed.problems.join('\n')).toMatch(new RegExp(`it was removed at seq \\d+ \\(lost on a train\\), before grant ${grant.replace(/-/g, '\\-')} was issued`))

    // A key whose enrolment event names no key (as brokers wrote it before keys were kept in the
    // chain): put in the store, with such an event, then approving.
    const old = broker.authenticator()
    const options2 = {
      rp: { id: 'writ.test', name: 'writ' },
      user: { id: randomBytes(16).toString('base64url'), name: 'carol@example.com', displayName: 'carol' },
      challenge: randomBytes(32).toString('base64url'),
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    } as PublicKeyCredentialCreationOptionsJSON
    const registration = old.register(options2)
    const now = Math.floor(broker.clock() / 1000)
    const invite = { tokenSha256: randomBytes(32).toString('hex'), sub: 'carol@example.com', group: 'release-managers', createdBy: 'admin', createdAt: now, expiresAt: now + 600 }
    await broker.approvals.createInvite(invite)
    const enrolled = await broker.approvals.enrol(invite, {
      id: registration.id,
      sub: 'carol@example.com',
      group: 'release-managers',
      publicKey: old.credentials.get(registration.id)!.cose.toString('base64url'),
      counter: 0,
      aaguid: AAGUID,
      fmt: 'packed',
      attestation: 'verified',
      attestationObject: registration.response.attestationObject,
      userHandle: options2.user.id,
      enrolledAt: now,
    })
    expect(enrolled).toBe('enrolled')
    await broker.audit.log!.append({
      type: 'approver.enrolled',
      actor: 'approver:carol@example.com',
      approver: 'carol@example.com',
      credential_id: registration.id,
      aaguid: AAGUID,
      detail: { group: 'release-managers', fmt: 'packed', attestation: 'verified' },
    } as unknown as AuditEventInput)
    const byOld = await approved(deployManifest({ task: { id: 'CHAIN-OLD', requested_by: 'alice@example.com' } }), [old])
    const after = await exported()
    const result = await verifyApprovalFromChain({ grantId: byOld.grant, evidence: byOld.evidence, chain: after.chain }, { jwks: after.jwks, trust })
    expect(result.ok).toBe(false)
    expect(result.problems).toEqual([
      expect.stringMatching(
        /^votes\[0\] \(carol@example\.com\): the enrolment of key \S+ \(the approver\.enrolled event at seq \d+\) does not vouch for it: its approver\.enrolled event records no public key and attestation/,
      ),
    ])
  })

  it("checks each vote under the key recorded for its credential id and the person it was enrolled for", async () => {
    const { evidence } = await approved(deployManifest({ task: { id: 'CHAIN-PERSON', requested_by: 'carol@example.com' } }), [cast.alice])
    const alice = cast.keys.alice
    const publicKey = cast.alice.credentials.get(alice)!.cose.toString('base64url')
    const source = 'the approver.enrolled event at seq 7'
    const asBob = await verifyApprovalEvidence(evidence, { enrolledKeys: new Map([[alice, { approver: 'bob@example.com', publicKey, source }]]) })
    expect(asBob.problems).toEqual([`votes[0] (alice@example.com): key ${alice} was enrolled for bob@example.com (${source}), not for alice@example.com`])
    const none = await verifyApprovalEvidence(evidence, { enrolledKeys: new Map() })
    expect(none.problems).toEqual([`votes[0] (alice@example.com): key ${alice} has no enrolment record: no approver.enrolled event names it`])
    const good = await verifyApprovalEvidence(evidence, { enrolledKeys: new Map([[alice, { approver: 'alice@example.com', publicKey, source }]]) })
    expect(good.ok).toBe(true)
    // The recorded key is the one used: the same evidence fails under another recorded key.
    const bobKey = cast.bob.credentials.get(cast.keys.bob)!.cose.toString('base64url')
    const other: ApprovalEvidence = structuredClone(evidence)
    other.votes[0]!.publicKey = bobKey
    const swapped = await verifyApprovalEvidence(other, { enrolledKeys: new Map([[alice, { approver: 'alice@example.com', publicKey: bobKey, source }]]) })
    expect(swapped.ok).toBe(false)
    expect(swapped.votes[0]!.problem).toMatch(/signature/)
  })
})

describe('enrolment when its audit event cannot be written', () => {
  it('answers 503 and leaves the key disabled: no key approves without its enrolment on record', async () => {
    const clock = manualClock(Date.now())
    const log = createMemoryAuditLog({ clock, issuer: 'https://writ.test', signer: await testKeys(clock) })
    const down = await makeApprovalBroker({ auditLog: log })
    try {
      const bob = down.authenticator()
      const invite = await down.call('POST', '/admin/approvers/invites', { ...json({ approver: 'bob@example.com', group: 'release-managers' }), bearer: ADMIN_TOKEN })
      const path = new URL((await invite.json()).invite_url).pathname
      const options = await (await down.call('POST', `${path}/options`, json({}))).json()
      await log.close()
      const res = await down.call('POST', `${path}/verify`, json(bob.register(options)))
      expect(res.status).toBe(503)
      expect((await res.json()).error).toBe('temporarily_unavailable')
      const [key] = (await (await down.call('GET', '/admin/approvers/keys?approver=bob%40example.com', { bearer: ADMIN_TOKEN })).json()).keys
      expect(key).toMatchObject({
        approver: 'bob@example.com',
        flagged: { reason: 'disabled', detail: 'its enrolment could not be written to the audit log: enrol again' },
      })
      // The key counts for nothing: a request only it could approve is refused at once.
      const asked = await down.call('POST', '/v1/tokens', { ...json(deployManifest()), basic: A })
      expect(asked.status).toBe(403)
      expect((await asked.json()).error_description).toMatch(/0 of its members hold an enrolled security key/)
      expect(await down.approvals.listPending()).toEqual([])
    } finally {
      await down.close()
    }
  })
})
