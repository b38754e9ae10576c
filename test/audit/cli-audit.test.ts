import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { CliError } from '../../src/cli/cli-error.js'
import type { AuditEvent, AuditEventInput } from '../../src/audit/types.js'
import {
  describeAuditEvent,
  exportAuditLog,
  showAudit,
  tailAudit,
  verifyApproval,
  verifyAudit,
} from '../../src/cli/commands/audit.js'
import { createContext, type CliContext } from '../../src/cli/context.js'
import { createOutput } from '../../src/cli/output.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import {
  A,
  AAGUID,
  ADMIN_TOKEN,
  ceremonyOptions,
  deployManifest,
  enrol,
  ISSUER,
  json,
  makeApprovalBroker,
  PKI,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
} from '../approvals/helpers.js'

let broker: ApprovalBroker
let alice: SoftAuthenticator
let aliceKey: string
let dir: string

beforeAll(async () => {
  broker = await makeApprovalBroker()
  alice = broker.authenticator()
  aliceKey = await enrol(broker, alice, 'alice@example.com', 'release-managers')
  dir = mkdtempSync(join(tmpdir(), 'writ-audit-cli-'))
})
afterAll(async () => {
  await broker?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** A CLI context talking to the in-process broker, with its output captured. */
function cli(options: { json?: boolean; env?: Record<string, string> } = {}): { ctx: CliContext; stdout: () => string; stderr: () => string } {
  let out = ''
  let err = ''
  const sink = (append: (s: string) => void) => ({ isTTY: false, write: (chunk: string) => (append(String(chunk)), true) }) as unknown as NodeJS.WritableStream
  const ctx = createContext({
    env: { WRIT_URL: ISSUER, WRIT_ADMIN_TOKEN: ADMIN_TOKEN, ...options.env },
    out: createOutput({ json: options.json ?? false, stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: { NO_COLOR: '1' } }),
    fetch: (async (input: string | URL | Request, init?: RequestInit) =>
      broker.app.request(typeof input === 'string' ? input : input instanceof URL ? input.toString() : input, init)) as typeof fetch,
  })
  return { ctx, stdout: () => out, stderr: () => err }
}

/** An approved grant, as an agent gets it: request, alice approves with her key, the agent collects. */
async function approvedGrant(task: string): Promise<string> {
  const pending = await requestApproval(broker, A, deployManifest({ task: { id: task, purpose: 'Deploy 4.2', requested_by: 'carol@example.com' } }))
  const options = await ceremonyOptions(broker, pending.id, 'approve')
  expect((await submit(broker, pending.id, 'approve', alice.assert(options))).status).toBe(200)
  broker.clock.advance(5000)
  const res = await poll(broker, A, pending.auth_req_id)
  expect(res.status).toBe(200)
  return (await res.json()).grant_id
}

describe('writ audit', () => {
  it('show --grant tells an approved, then revoked grant from request to revocation', async () => {
    const grant = await approvedGrant('AUDIT-SHOW')
    await broker.call('POST', '/admin/revocations', { ...json({ grant_id: grant, reason: 'release rolled back' }), bearer: ADMIN_TOKEN })
    const { ctx, stdout } = cli()
    await showAudit(ctx, { grant })
    const lines = stdout().trimEnd().split('\n')
    expect(lines[0]).toBe(`grant ${grant}`)
    // The story from the request for approval, through alice's approval, to the revocation.
    const typeOf = (line: string) => / #\d+ +(\S+) /.exec(line)?.[1]
    expect(lines.slice(1).map(typeOf)).toEqual(['approval.requested', 'approval.approved', 'grant.issued', 'grant.revoked'])
    expect(lines[1]).toMatch(/approval \S+ requested by agent-a for task AUDIT-SHOW; manifest [0-9a-f]{16}…; rules deploy-prod; expires \d{4}-/)
    expect(lines[2]).toMatch(
      new RegExp(`approval \\S+ approved by alice@example.com \\(key ${aliceKey}, AAGUID ${AAGUID}\\): complete$`),
    )
    const issued = lines.find((l) => l.includes('grant.issued'))!
    expect(issued).toContain(`grant ${grant} issued to agent-a for task AUDIT-SHOW ("Deploy 4.2"), requested by carol@example.com`)
    expect(issued).toContain('rules deploy-prod')
    expect(issued).toContain('deploy:create https://deploy.example.com/acme/app')
    expect(issued).toMatch(new RegExp(`approval \\S+ by alice@example.com \\(key ${aliceKey}, AAGUID [0-9a-f-]{36}\\)`))
    expect(lines.at(-1)).toMatch(new RegExp(`grant.revoked +revoked by admin: grant ${grant}, "release rolled back" \\(1 grant\\)$`))
    // In log order, issuance before revocation.
    expect(lines.indexOf(issued)).toBeLessThan(lines.length - 1)

    const asJson = cli({ json: true })
    await showAudit(asJson.ctx, { grant })
    const story = JSON.parse(asJson.stdout())
    expect(story.map((e: { type: string }) => e.type)).toEqual(['approval.requested', 'approval.approved', 'grant.issued', 'grant.revoked'])
    expect(story[1]).toMatchObject({ approver: 'alice@example.com', credential_id: aliceKey, aaguid: AAGUID, complete: true, task: 'AUDIT-SHOW' })
    await expect(showAudit(cli().ctx, { grant: 'no-such-grant' })).rejects.toThrow(/no audit events for grant no-such-grant/)
    await expect(showAudit(cli().ctx, {})).rejects.toThrow(/exactly one of --grant, --task/)
  })

  it('describes every event type in words', () => {
    const chain = { seq: 1, time: '2026-01-01T00:00:00.000Z', prev: '0'.repeat(64), hash: 'f'.repeat(64) }
    const at = 1_800_000_000
    const until = new Date(at * 1000).toISOString()
    const who = { approval: 'ap-1', approver: 'alice@example.com', credential_id: 'key-1', aaguid: AAGUID, task: 'T-1', client: 'agent-a' }
    const cases: Array<[AuditEventInput, string]> = [
      [{ type: 'approval.requested', actor: 'client:agent-a', approval: 'ap-1', client: 'agent-a', task: 'T-1', manifest_sha256: 'a'.repeat(64), rules: ['deploy-prod'], expires_at: at },
        `approval ap-1 requested by agent-a for task T-1; manifest ${'a'.repeat(16)}…; rules deploy-prod; expires ${until}`],
      [{ type: 'approval.approved', actor: 'approver:alice@example.com', ...who, complete: false },
        `approval ap-1 approved by alice@example.com (key key-1, AAGUID ${AAGUID}): more approvals needed`],
      [{ type: 'approval.denied', actor: 'approver:alice@example.com', ...who },
        `approval ap-1 denied by alice@example.com (key key-1, AAGUID ${AAGUID})`],
      [{ type: 'approval.rejected', actor: 'approver:alice@example.com', ...who, reason: 'key is flagged (counter_regression)' },
        `approval ap-1 assertion rejected by alice@example.com (key key-1, AAGUID ${AAGUID}): key is flagged (counter_regression)`],
      [{ type: 'approval.expired', actor: 'system', approval: 'ap-1', client: 'agent-a', task: 'T-1' },
        'approval ap-1 for agent-a, task T-1, expired undecided'],
      [{ type: 'approver.invited', actor: 'admin', approver: 'alice@example.com', detail: { group: 'release-managers' } },
        'enrolment invite for alice@example.com issued by admin (group release-managers)'],
      [{ type: 'approver.enrolled', actor: 'approver:alice@example.com', approver: 'alice@example.com', credential_id: 'key-1', aaguid: AAGUID, public_key: 'pQECAyYgASFYIA', public_key_thumbprint: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs', attestation_object: 'o2NmbXRk', client_data_json: 'eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0' },
        `alice@example.com enrolled key key-1 (AAGUID ${AAGUID}, public key NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs)`],
      [{ type: 'approver.key_flagged', actor: 'system', approver: 'alice@example.com', credential_id: 'key-1', reason: 'counter_regression' },
        'key key-1 of alice@example.com flagged: counter_regression'],
      [{ type: 'approver.key_removed', actor: 'admin', approver: 'alice@example.com', credential_id: 'key-1', reason: 'lost' },
        'key key-1 of alice@example.com removed by admin: lost'],
      [{ type: 'credential.vended', actor: 'client:agent-a', client: 'agent-a', grant: 'g-1', task: 'T-1', provider: 'aws', resource: 'arn:aws:iam::123456789012:role/writ-docs', session: 'g-1', expires_at: at },
        `aws credentials for arn:aws:iam::123456789012:role/writ-docs vended to agent-a under grant g-1 (task T-1), session g-1, until ${until}`],
      [{ type: 'key.rotated', actor: 'admin', kid: 'k2', previous_kid: 'k1', forced: true },
        'signing key k2 became current, replacing k1 (by admin, forced)'],
      [{ type: 'key.rotated', actor: 'system', kid: 'k3', previous_kid: 'k2', forced: false },
        'signing key k3 became current, replacing k2 (scheduled)'],
      [{ type: 'audit.exported', actor: 'admin', from_seq: 1, to_seq: 9, to_hash: 'f'.repeat(64), destination: 'writ audit export' },
        'events 1 to 9 exported by admin to writ audit export'],
      [{ type: 'audit.trimmed', actor: 'admin', before_seq: 10, exported_to: 's3://archive/a.jsonl', count: 9 },
        '9 events before seq 10 trimmed by admin (exported to s3://archive/a.jsonl)'],
    ]
    for (const [event, line] of cases) {
      expect(describeAuditEvent({ ...event, ...chain } as AuditEvent), event.type).toBe(line)
    }
  })

  it('verify-approval re-checks offline, from the chain export, that the approver’s enrolled key signed this grant’s manifest', async () => {
    const grant = await approvedGrant('AUDIT-VERIFY-APPROVAL')
    const plain = await broker.call('POST', '/v1/tokens', {
      ...json({ task: { id: 'AUDIT-PLAIN' }, grants: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }] }),
      basic: A,
    })
    const chain = join(dir, 'verify-approval.jsonl')
    await exportAuditLog(cli().ctx, { out: chain })
    const roots = join(dir, 'roots.pem')
    writeFileSync(roots, PKI.root.pem)
    const { ctx, stdout } = cli()
    await verifyApproval(ctx, grant, { chain, roots: [roots] })
    expect(stdout()).toMatch(new RegExp(`ok  alice@example\\.com, key ${aliceKey.replace(/[-]/g, '\\-')} enrolled at seq \\d+ \\(public key [\\w-]{43}\\)`))
    expect(stdout()).toContain("ok: every approver's key, as enrolled in the audit chain, signed this exact manifest")
    // A grant no human approved has nothing to verify.
    await expect(verifyApproval(cli().ctx, (await plain.json()).grant_id, { chain, roots: [roots] })).rejects.toThrow(/without a human approval/)
    // The chain export and the trust anchors are required: the broker is not asked for keys.
    await expect(verifyApproval(cli().ctx, grant, { roots: [roots] })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/--chain FILE/) })
    await expect(verifyApproval(cli().ctx, grant, { chain })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/--roots FILE/) })
    await expect(verifyApproval(cli().ctx, grant, { chain, roots: [join(dir, 'none.pem')] })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/^--roots .*none\.pem/) })
    await expect(verifyApproval(cli().ctx, grant, { chain, roots: [roots], aaguid: ['not-a-uuid'] })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/--aaguid not-a-uuid/) })
  })

  it('export writes sealed JSON Lines that verify, and verify names the first bad line of a tampered copy', async () => {
    const file = join(dir, 'audit.jsonl')
    const exporter = cli()
    await exportAuditLog(exporter.ctx, { out: file })
    expect(exporter.stderr()).toMatch(/^exported \d+ events to /)
    const { ctx, stdout } = cli()
    await verifyAudit(ctx, file, {})
    expect(stdout()).toMatch(/^ok: \d+ events \(seq 1 to \d+\), \d+ signed checkpoints?, sealed \(1 page, the last one included\)\nstarts at: seq 1, the start of the log\ntrusted key \S+: in the broker's published JWKS; signed \d+ checkpoints?, 1 seal\n$/)

    // Offline, against a saved JWKS and with no broker configured.
    const jwksFile = join(dir, 'jwks.json')
    writeFileSync(jwksFile, JSON.stringify(await (await broker.call('GET', '/.well-known/jwks.json')).json()))
    const offline = cli({ env: { WRIT_URL: '' } })
    await verifyAudit(offline.ctx, file, { jwks: jwksFile, issuer: ISSUER })
    expect(offline.stdout()).toMatch(/^ok: /)

    const lines = readFileSync(file, 'utf8').split('\n')
    lines[2] = lines[2]!.replace('"actor":"', '"actor":"x')
    const tampered = join(dir, 'tampered.jsonl')
    writeFileSync(tampered, lines.join('\n'))
    const err = await verifyAudit(cli().ctx, tampered, { jwks: jwksFile }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CliError)
    expect((err as CliError).message).toMatch(/tampered\.jsonl line 3 \(seq 3\): its hash does not match its content/)
    await expect(verifyAudit(cli().ctx, join(dir, 'missing.jsonl'), { jwks: jwksFile })).rejects.toMatchObject({ exitCode: 2 })
  })

  it('tail prints the latest events, and -f keeps printing new ones', async () => {
    const { ctx, stdout } = cli()
    await tailAudit(ctx, { limit: '3' })
    expect(stdout().trimEnd().split('\n')).toHaveLength(3)
    await expect(tailAudit(cli().ctx, { limit: '0' })).rejects.toThrow(/--limit/)

    const follow = cli({ json: true })
    const stop = new AbortController()
    const tailing = tailAudit(follow.ctx, { follow: true, interval: '0.1' }, stop.signal)
    const grant = await approvedGrant('AUDIT-TAIL')
    await vi.waitFor(() => expect(follow.stdout()).toContain(`"grant":"${grant}"`), { timeout: 5000, interval: 50 })
    stop.abort()
    await tailing
    for (const line of follow.stdout().trimEnd().split('\n')) expect(JSON.parse(line)).toHaveProperty('hash')
  })
})
