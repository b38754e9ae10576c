import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server'
import { calculateJwkThumbprint } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApprovalEvidence, ApproverCredential } from '../../src/approvals/types.js'
import { verifyApprovalEvidence } from '../../src/approvals/evidence/verify-approval-evidence.js'
import type { AuditEvent } from '../../src/audit/types.js'
import { createBroker, type Broker } from '../../src/broker.js'
import { hashSecret } from '../../src/client-auth/index.js'
import { parseConfig } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { cbor } from '../approvals/fixtures/cbor.js'
import { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { attestationPki } from '../approvals/fixtures/x509.js'
import { AAGUID, ADMIN_TOKEN, approvalPolicyText, ISSUER, ORIGIN, PKI, SECRETS } from '../approvals/helpers.js'
import { runCli } from '../helpers/cli.js'
import { freePort } from '../helpers/redis.js'

// A broker on real Redis reached over HTTP; the auditor runs the built CLI with the chain export
// and the attestation root. The "compromised replica" is this test with the broker's store and
// audit log in hand: it rewrites evidence, plants keys and appends events, as a replica could.
const dir = mkdtempSync(join(tmpdir(), 'writ-cli-verify-approval-'))
const prefix = `writ-cli-verify-approval-${randomBytes(4).toString('hex')}:`
const roots = join(dir, 'roots.pem')
let broker: Broker
let server: ServerType
let url: string
let env: Record<string, string>
const packed = { fmt: 'packed' as const, leaf: PKI.leaf, chain: [PKI.intermediate] }
const alice = new SoftAuthenticator({ aaguid: AAGUID, origin: ORIGIN, attestation: packed })
let aliceKey: string

const sha256 = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest()
const call = (path: string, init: RequestInit = {}) => broker.app.request(`${ISSUER}${path}`, init)
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
// RFC 6749 §2.3.1: form-encoded id and secret.
const basicA = `Basic ${Buffer.from(`agent-a:${encodeURIComponent(SECRETS['agent-a'])}`).toString('base64')}`

beforeAll(async () => {
  writeFileSync(roots, PKI.root.pem)
  const config = parseConfig({
    issuer: ISSUER,
    devMode: true,
    store: { kind: 'redis', redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: prefix },
    keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    admin: { tokenHash: await hashSecret(ADMIN_TOKEN) },
    approvals: { attestation: { rootCertificateFiles: [roots], allowedAaguids: [AAGUID] } },
  })
  broker = await createBroker(config, {
    logger: silentLogger,
    policyText: (await approvalPolicyText()),
    env: { WRIT_TEST_WEBHOOK_SECRET: 'whsec' },
    fetch: async () => new Response(null, { status: 204 }),
  })
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  env = { WRIT_URL: url, WRIT_ADMIN_TOKEN: ADMIN_TOKEN }
  server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  aliceKey = await enrol(alice, 'alice@example.com')
})

afterAll(async () => {
  await new Promise((r) => server?.close(r))
  await broker?.close()
  rmSync(dir, { recursive: true, force: true })
  const { default: Redis } = await import('ioredis')
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
})

/** Enrols a key through the admin invite and the enrolment ceremony. */
async function enrol(auth: SoftAuthenticator, approver: string): Promise<string> {
  const invite = await post('/admin/approvers/invites', { approver, group: 'release-managers' }, { authorization: `Bearer ${ADMIN_TOKEN}` })
  expect(invite.status).toBe(201)
  const path = new URL(((await invite.json()) as { invite_url: string }).invite_url).pathname
  const options = await (await post(`${path}/options`, {})).json()
  const enrolled = await post(`${path}/verify`, auth.register(options as never))
  expect(enrolled.status).toBe(200)
  return ((await enrolled.json()) as { credential_id: string }).credential_id
}

/** agent-a asks for a production deploy, `auth` approves it, agent-a collects: the grant and approval. */
async function approvedGrant(auth: SoftAuthenticator, task: string): Promise<{ grant: string; approval: string }> {
  const manifest = {
    task: { id: task, purpose: 'Deploy release 4.2', requested_by: 'carol@example.com' },
    ttl: '5m',
    grants: [{ type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] }],
  }
  const asked = await post('/v1/tokens', manifest, { authorization: basicA })
  expect(asked.status).toBe(202)
  const { auth_req_id } = (await asked.json()) as { auth_req_id: string }
  const approval = auth_req_id.split('.')[0]!
  const options = await (await post(`/approve/${approval}/options`, { action: 'approve' })).json()
  expect((await post(`/approve/${approval}/verify`, auth.assert(options as never))).status).toBe(200)
  const token = await call('/oauth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicA },
    body: new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id }).toString(),
  })
  expect(token.status).toBe(200)
  return { grant: ((await token.json()) as { grant_id: string }).grant_id, approval }
}

/** `writ audit export` to a file: what the auditor holds. */
async function exportChain(name: string): Promise<string> {
  const file = join(dir, `${name}.jsonl`)
  const res = await runCli(['audit', 'export', '--out', file], env)
  expect(res.code, res.stderr).toBe(0)
  return file
}

const verifyApproval = (grant: string, chain: string, ...more: string[]) =>
  runCli(['audit', 'verify-approval', grant, '--chain', chain, '--roots', roots, ...more], env)

const chainEvents = (file: string): AuditEvent[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l && !l.includes('"type":"audit.seal"'))
    .map((l) => JSON.parse(l) as AuditEvent)

/** A P-256 key of the attacker's own, with its COSE_Key. */
function attackerKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' })
  const cose = cbor(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]))
  return { privateKey, jwk, cose: cose.toString('base64url') }
}

/** The evidence with every vote re-signed (same authenticator data and client data) by another key. */
function resignedWith(evidence: ApprovalEvidence, key: ReturnType<typeof attackerKey>): ApprovalEvidence {
  const forged = structuredClone(evidence)
  for (const vote of forged.votes) {
    const signed = Buffer.concat([Buffer.from(vote.authenticatorData, 'base64url'), sha256(Buffer.from(vote.clientDataJSON, 'base64url'))])
    vote.publicKey = key.cose
    vote.signature = sign('sha256', signed, key.privateKey).toString('base64url')
  }
  return forged
}

/** A registration by an authenticator of the allowed model, made outside the broker (no invite). */
function registerOutside(auth: SoftAuthenticator, approver: string) {
  const options = {
    rp: { id: new URL(ISSUER).hostname, name: 'writ' },
    user: { id: randomBytes(16).toString('base64url'), name: approver, displayName: approver },
    challenge: randomBytes(32).toString('base64url'),
    pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
  } as PublicKeyCredentialCreationOptionsJSON
  const response = auth.register(options)
  return { response, credential: auth.credentials.get(response.id)!, userHandle: options.user.id }
}

/** What a replica with Redis access does to enrol a key for someone: straight into the store. */
async function plantKey(auth: SoftAuthenticator, approver: string): Promise<{ id: string; registration: ReturnType<typeof registerOutside> }> {
  const registration = registerOutside(auth, approver)
  const now = Math.floor(Date.now() / 1000)
  const invite = { tokenSha256: randomBytes(32).toString('hex'), sub: approver, group: 'release-managers', createdBy: 'admin', createdAt: now, expiresAt: now + 600 }
  await broker.approvals.createInvite(invite)
  const credential: ApproverCredential = {
    id: registration.response.id,
    sub: approver,
    group: 'release-managers',
    publicKey: registration.credential.cose.toString('base64url'),
    counter: 0,
    aaguid: AAGUID,
    fmt: 'packed',
    attestation: 'verified',
    attestationObject: registration.response.response.attestationObject,
    userHandle: registration.userHandle,
    enrolledAt: now,
  }
  expect(await broker.approvals.enrol(invite, credential)).toBe('enrolled')
  return { id: credential.id, registration }
}

// Each test runs the built CLI several times: give them room on a loaded machine.
describe('writ audit verify-approval against the audit chain', { timeout: 120_000 }, () => {
  it('verifies a genuine approval from the chain export, and the key list shows the thumbprint the chain recorded', async () => {
    const { grant } = await approvedGrant(alice, 'EVIDENCE-OK')
    const chain = await exportChain('genuine')
    const enrolled = chainEvents(chain).find((e) => e.type === 'approver.enrolled' && e.credential_id === aliceKey)
    if (enrolled?.type !== 'approver.enrolled') throw new Error('no enrolment event for alice')
    // The event carries the key exactly as alice's authenticator made it, and its attestation.
    expect(enrolled.public_key).toBe(alice.credentials.get(aliceKey)!.cose.toString('base64url'))
    const jwk = alice.credentials.get(aliceKey)!.privateKey.export({ format: 'jwk' })
    const thumbprint = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! }, 'sha256')
    expect(enrolled.public_key_thumbprint).toBe(thumbprint)
    expect(enrolled.attestation_object).toMatch(/^[\w-]{100,}$/)
    expect(JSON.parse(Buffer.from(enrolled.client_data_json, 'base64url').toString())).toMatchObject({ type: 'webauthn.create', origin: ORIGIN })

    const listed = await runCli(['--json', 'approvers', 'ls'], env)
    expect(listed.code).toBe(0)
    const keys = JSON.parse(listed.stdout) as Array<{ credential_id: string; public_key_thumbprint: string }>
    expect(keys.find((k) => k.credential_id === aliceKey)?.public_key_thumbprint).toBe(thumbprint)
    expect((await runCli(['approvers', 'ls'], env)).stdout).toContain(thumbprint)

    const res = await verifyApproval(grant, chain)
    expect(res.stderr).toBe('')
    expect(res.code).toBe(0)
    expect(res.stdout).toContain(`ok  alice@example.com, key ${aliceKey} enrolled at seq ${enrolled.seq} (public key ${thumbprint})`)
    expect(res.stdout).toContain("ok: every approver's key, as enrolled in the audit chain, signed this exact manifest")
    const asJson = await runCli(['--json', 'audit', 'verify-approval', grant, '--chain', chain, '--roots', roots, '--aaguid', AAGUID], env)
    expect(asJson.code).toBe(0)
    expect(JSON.parse(asJson.stdout)).toMatchObject({ ok: true, grant, keys: [{ credential_id: aliceKey, enrolled_at_seq: enrolled.seq, thumbprint }] })
  })

  it("fails when the approver's attestation does not chain to the auditor's trust anchors, or the chain was edited", async () => {
    const { grant } = await approvedGrant(alice, 'EVIDENCE-ANCHORS')
    const chain = await exportChain('anchors')
    const otherRoot = join(dir, 'other-root.pem')
    writeFileSync(otherRoot, attestationPki(AAGUID, 'Other').root.pem)
    const foreign = await runCli(['audit', 'verify-approval', grant, '--chain', chain, '--roots', otherRoot], env)
    expect(foreign.code).toBe(1)
    expect(foreign.stderr).toMatch(/does not vouch for it: its attestation is not trusted: the attestation certificate is not trusted/)
    const otherModel = await verifyApproval(grant, chain, '--aaguid', '00000000-0000-4000-8000-000000000000')
    expect(otherModel.code).toBe(1)
    expect(otherModel.stderr).toContain(`its attestation is not trusted: this security key model (AAGUID ${AAGUID}) is not on`)

    // The replica swaps the key recorded at enrolment in the export: the chain no longer verifies.
    const mallory = attackerKey()
    const lines = readFileSync(chain, 'utf8').split('\n')
    const at = lines.findIndex((l) => l.includes('"type":"approver.enrolled"') && l.includes(aliceKey))
    const event = JSON.parse(lines[at]!) as Record<string, unknown>
    lines[at] = JSON.stringify({ ...event, public_key: mallory.cose })
    const edited = join(dir, 'edited.jsonl')
    writeFileSync(edited, lines.join('\n'))
    const res = await verifyApproval(grant, edited)
    expect(res.code).toBe(1)
    expect(res.stderr).toContain(`the audit chain export does not verify: line ${at + 1} (seq ${String(event.seq)}): its hash does not match its content`)
  })
  it("fails, naming both keys, when a replica puts its own key under a real approver's credential id", async () => {
    const { grant, approval } = await approvedGrant(alice, 'EVIDENCE-OWN-KEY')
    const evidence = (await broker.approvals.getEvidence(approval))!
    const mallory = attackerKey()
    const forged = resignedWith(evidence, mallory)
    // Checked only against the key it carries, the forgery holds: that is the hole.
    expect((await verifyApprovalEvidence(forged)).ok).toBe(true)
    // The replica rewrites the stored evidence; the auditor fetches it from the broker.
    await broker.approvals.putEvidence(forged, 3600)
    const chain = await exportChain('own-key')
    const res = await verifyApproval(grant, chain)
    expect(res.code).toBe(1)
    const malloryThumbprint = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: mallory.jwk.x!, y: mallory.jwk.y! }, 'sha256')
    const enrolled = chainEvents(chain).find((e) => e.type === 'approver.enrolled' && e.credential_id === aliceKey)!
    expect(res.stdout).toContain(`BAD  alice@example.com, key ${aliceKey}`)
    expect(res.stderr).toContain(
      `the evidence carries public key ${malloryThumbprint} for key ${aliceKey}, but the key enrolled under that id is ` +
        `${(enrolled as { public_key_thumbprint: string }).public_key_thumbprint} (the approver.enrolled event at seq ${enrolled.seq})`,
    )
    // From a file, without asking the broker for the evidence, the same.
    const file = join(dir, 'forged-evidence.json')
    writeFileSync(file, JSON.stringify(forged))
    const offline = await runCli(['audit', 'verify-approval', grant, '--chain', chain, '--roots', roots, '--evidence', file], { ...env, WRIT_ADMIN_TOKEN: 'wrong' })
    expect(offline.code).toBe(1)
    expect(offline.stderr).toContain(`the evidence carries public key ${malloryThumbprint} for key ${aliceKey}`)
  })

  it('fails loudly for a key a replica stored without enrolment, though the broker took its approval', async () => {
    const mallory = new SoftAuthenticator({ aaguid: AAGUID, origin: ORIGIN, attestation: packed })
    const planted = await plantKey(mallory, 'bob@example.com')
    // The broker trusts its store: the planted key approves and a token is minted.
    const { grant } = await approvedGrant(mallory, 'EVIDENCE-PLANTED')
    const chain = await exportChain('planted')
    expect(chainEvents(chain).some((e) => e.type === 'approver.enrolled' && e.credential_id === planted.id)).toBe(false)
    const res = await verifyApproval(grant, chain)
    expect(res.code).toBe(1)
    expect(res.stdout).toContain(`BAD  bob@example.com, key ${planted.id}`)
    expect(res.stderr).toMatch(
      new RegExp(`key ${planted.id.replace(/-/g, '\\-')} has no approver\\.enrolled event before grant ${grant.replace(/-/g, '\\-')} \\(seq \\d+\\) in the audit chain export \\(seq 1 to \\d+\\)`),
    )
  })

  it('fails when the chain holds a second enrolment of a real credential id, or a record whose attestation is for another id', async () => {
    // A second enrolment of alice's credential id, with a genuine attestation of the replica's own.
    const mallory = new SoftAuthenticator({ aaguid: AAGUID, origin: ORIGIN, attestation: packed })
    const own = registerOutside(mallory, 'alice@example.com')
    const ownJwk = own.credential.privateKey.export({ format: 'jwk' })
    const record = (credentialId: string, from: ReturnType<typeof registerOutside>) => ({
      type: 'approver.enrolled' as const,
      actor: 'approver:alice@example.com' as const,
      approver: 'alice@example.com',
      credential_id: credentialId,
      aaguid: AAGUID,
      public_key: from.credential.cose.toString('base64url'),
      public_key_thumbprint: 'forged',
      attestation_object: from.response.response.attestationObject,
      client_data_json: from.response.response.clientDataJSON,
      detail: { group: 'release-managers', fmt: 'packed', attestation: 'verified' },
    })
    await broker.audit.log!.append(record(aliceKey, own))
    const { grant, approval } = await approvedGrant(alice, 'EVIDENCE-TWICE')
    const forged = resignedWith((await broker.approvals.getEvidence(approval))!, {
      privateKey: own.credential.privateKey,
      jwk: ownJwk,
      cose: own.credential.cose.toString('base64url'),
    })
    await broker.approvals.putEvidence(forged, 3600)
    const chain = await exportChain('twice')
    const twice = await verifyApproval(grant, chain)
    expect(twice.code).toBe(1)
    expect(twice.stderr).toMatch(new RegExp(`key ${aliceKey.replace(/-/g, '\\-')} \\(the approver\\.enrolled event at seq \\d+\\) does not vouch for it: it is enrolled 2 times in the chain`))

    // A planted key given a record whose attestation is another registration's.
    const planted = await plantKey(mallory, 'bob@example.com')
    const other = registerOutside(mallory, 'bob@example.com')
    await broker.audit.log!.append({ ...record(planted.id, other), actor: 'approver:bob@example.com', approver: 'bob@example.com', public_key: planted.registration.credential.cose.toString('base64url') })
    const second = await approvedGrant(mallory, 'EVIDENCE-OTHER-ID')
    const res = await verifyApproval(second.grant, await exportChain('other-id'))
    expect(res.code).toBe(1)
    expect(res.stderr).toContain(`does not vouch for it: its attestation is for credential id ${other.response.id}, not ${planted.id}`)
  })
})
