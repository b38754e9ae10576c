import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { policyHash } from '../../src/policy/policy-hash.js'
import { docsManifest, SECRETS, testPolicyText } from '../helpers/broker.js'
import { Redis } from 'ioredis'
import { CLI, ROOT } from '../helpers/cli.js'
import { eventually } from '../helpers/eventually.js'
import { AGENT_C_SECRET, policyWithoutAgentB } from '../helpers/policy-change.js'
import { deleteKeysWithPrefix, freePort } from '../helpers/redis.js'

/*
 * A file-based broker process (`node dist/main.js`, WRIT_POLICY): SIGHUP re-reads the policy file.
 * A valid file takes force (token requests prove which policy is in force); an invalid one is
 * refused with every problem logged, and the policy in force keeps working.
 */

let child: ChildProcess
let url: string
let dir: string
let policyFile: string
let stdout = ''
let stderr = ''
let adminToken: string

interface Readiness {
  policy: { hash: string; source: string; refused?: { hash?: string; at: string } }
}

async function ready(base = url): Promise<Readiness> {
  const res = await fetch(`${base}/readyz`)
  expect(res.status).toBe(200)
  return (await res.json()) as Readiness
}

async function tokenStatus(client: string, secret: string, base = url): Promise<number> {
  const manifest = docsManifest({ task: { id: 'HUP-1' }, grants: docsManifest().grants.slice(0, 1) })
  const res = await fetch(`${base}/v1/tokens`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString('base64')}`,
    },
    body: JSON.stringify(manifest),
  })
  await res.body?.cancel()
  return res.status
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'writ-hup-'))
  policyFile = join(dir, 'policy.yaml')
  writeFileSync(policyFile, await testPolicyText())
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  child = spawn(process.execPath, ['dist/main.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', WRIT_POLICY: policyFile, WRIT_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  await eventually('the broker prints its admin token', () => /WRIT_ADMIN_TOKEN=(\S+)/.test(stdout) || child.exitCode !== null, { boundMs: 30_000 })
  if (child.exitCode !== null) throw new Error(`broker did not start:\n${stdout}\n${stderr}`)
  adminToken = /WRIT_ADMIN_TOKEN=(\S+)/.exec(stdout)![1]!
}, 60_000)

afterAll(() => {
  child?.kill('SIGTERM')
  rmSync(dir, { recursive: true, force: true })
})

describe('SIGHUP on a broker whose policy is a file', () => {
  it('puts a valid new file in force, and refuses an invalid one keeping the policy in force', async () => {
    const first = await testPolicyText()
    expect((await ready()).policy).toMatchObject({ hash: policyHash(first), source: 'file' })
    expect(await tokenStatus('agent-b', SECRETS['agent-b'])).toBe(200)
    expect(await tokenStatus('agent-c', AGENT_C_SECRET)).toBe(401)

    const second = await policyWithoutAgentB()
    writeFileSync(policyFile, second)
    child.kill('SIGHUP')
    await eventually('the new file is in force', async () => (await ready()).policy.hash === policyHash(second))
    expect(await tokenStatus('agent-b', SECRETS['agent-b'])).toBe(401)
    expect(await tokenStatus('agent-c', AGENT_C_SECRET)).toBe(200)

    const invalid = second
      .replace('    rules: [docs-read]\n', '    rules: [docs-read, no-such-rule]\n')
      .replace('from: release-managers', 'from: nobody-group')
    writeFileSync(policyFile, invalid)
    child.kill('SIGHUP')
    await eventually('the invalid file is refused', async () => (await ready()).policy.refused?.hash === policyHash(invalid))
    expect((await ready()).policy.hash).toBe(policyHash(second))
    expect(await tokenStatus('agent-c', AGENT_C_SECRET)).toBe(200)
    expect(await tokenStatus('agent-b', SECRETS['agent-b'])).toBe(401)
    // Every problem is in the log.
    await eventually('the refusal is logged', () => stderr.includes('policy file refused'))
    const refusal = stderr.split('\n').find((line) => line.includes('policy file refused'))!
    expect(refusal).toMatch(/unknown rule \\"no-such-rule\\"/)
    expect(refusal).toMatch(/unknown approver group \\"nobody-group\\"/)

    // One change, audited with both hashes; the refused file left no change behind.
    const res = await fetch(`${url}/admin/audit?limit=10000`, { headers: { authorization: `Bearer ${adminToken}` } })
    const { events } = (await res.json()) as { events: Array<Record<string, unknown>> }
    expect(events.filter((e) => e.type === 'policy.changed')).toEqual([
      expect.objectContaining({ actor: 'system', old_hash: policyHash(first), new_hash: policyHash(second), source: 'file' }),
    ])
  }, 60_000)
})

describe('SIGHUP on writ serve --workers 2', () => {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const prefix = `writ-hup-workers-${randomBytes(4).toString('hex')}:`
  let primary: ChildProcess | undefined
  let workersDir: string

  afterAll(async () => {
    primary?.kill('SIGTERM')
    rmSync(workersDir, { recursive: true, force: true })
    const redis = new Redis(redisUrl)
    await deleteKeysWithPrefix(redis, prefix)
    await redis.quit()
  })

  it('is passed to every worker, and each puts the new file in force', async () => {
    workersDir = mkdtempSync(join(tmpdir(), 'writ-hup-workers-'))
    const file = join(workersDir, 'policy.yaml')
    writeFileSync(file, await testPolicyText())
    const port = await freePort()
    let log = ''
    primary = spawn(process.execPath, [CLI, 'serve', '--workers', '2'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        HOST: '127.0.0.1',
        REDIS_URL: redisUrl,
        WRIT_KEY_PREFIX: prefix,
        WRIT_KEK: randomBytes(32).toString('base64'),
        WRIT_POLICY: file,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    primary.stdout!.on('data', (d: Buffer) => (log += d.toString()))
    primary.stderr!.on('data', (d: Buffer) => (log += d.toString()))
    const count = (msg: string) => log.split('\n').filter((line) => line.includes(`"msg":"${msg}"`)).length
    await eventually('both workers listen', () => count('worker listening') === 2, { boundMs: 60_000 })

    const second = await policyWithoutAgentB()
    writeFileSync(file, second)
    primary.kill('SIGHUP')
    await eventually('both workers re-read the file', () => count('policy file re-read: new policy in force') === 2, { boundMs: 30_000 })
    const base = `http://127.0.0.1:${port}`
    // Requests go to either worker: every one finds the new policy in force.
    for (let i = 0; i < 6; i++) {
      expect((await ready(base)).policy.hash).toBe(policyHash(second))
      expect(await tokenStatus('agent-b', SECRETS['agent-b'], base)).toBe(401)
    }
  }, 120_000)
})
