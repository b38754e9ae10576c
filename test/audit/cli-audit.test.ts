import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { CliError } from '../../src/cli/cli-error.js'
import { exportAuditLog, showAudit, tailAudit, verifyApproval, verifyAudit } from '../../src/cli/commands/audit.js'
import { createContext, type CliContext } from '../../src/cli/context.js'
import { createOutput } from '../../src/cli/output.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import {
  A,
  ADMIN_TOKEN,
  ceremonyOptions,
  deployManifest,
  enrol,
  ISSUER,
  json,
  makeApprovalBroker,
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
    expect(JSON.parse(asJson.stdout()).map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['grant.issued', 'grant.revoked']))
    await expect(showAudit(cli().ctx, { grant: 'no-such-grant' })).rejects.toThrow(/no audit events for grant no-such-grant/)
    await expect(showAudit(cli().ctx, {})).rejects.toThrow(/exactly one of --grant, --task/)
  })

  it('verify-approval re-checks offline that the approver’s key signed this grant’s manifest', async () => {
    const grant = await approvedGrant('AUDIT-VERIFY-APPROVAL')
    const { ctx, stdout } = cli()
    await verifyApproval(ctx, grant)
    expect(stdout()).toContain(`ok  alice@example.com, key ${aliceKey}`)
    expect(stdout()).toContain("ok: every approver's key signed this exact manifest")
    // A grant no human approved has nothing to verify.
    const plain = await broker.call('POST', '/v1/tokens', {
      ...json({ task: { id: 'AUDIT-PLAIN' }, grants: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }] }),
      basic: A,
    })
    await expect(verifyApproval(cli().ctx, (await plain.json()).grant_id)).rejects.toThrow(/without a human approval/)
  })

  it('export writes sealed JSON Lines that verify, and verify names the first bad line of a tampered copy', async () => {
    const file = join(dir, 'audit.jsonl')
    const exporter = cli()
    await exportAuditLog(exporter.ctx, { out: file })
    expect(exporter.stderr()).toMatch(/^exported \d+ events to /)
    const { ctx, stdout } = cli()
    await verifyAudit(ctx, file, {})
    expect(stdout()).toMatch(/^ok: \d+ events \(seq 1 to \d+\), \d+ signed checkpoints?, sealed\n$/)

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
