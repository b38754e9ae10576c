import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, SECRETS } from '../helpers/broker.js'
import { type HttpBroker, startHttpBroker } from '../helpers/http-broker.js'

const root = resolve(import.meta.dirname, '../..')
const MB = 1024 * 1024
/** Async: the broker runs in this process, so a synchronous child would wait for it forever. */
const run = promisify(execFile)
const APP = 'https://git.example.com/acme/app'

/** Bytes of every file under `dir` (what the install costs on disk, apparent size). */
function sizeOf(dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += sizeOf(path)
    else if (entry.isFile()) total += statSync(path).size
  }
  return total
}

/** Every file under `dir`. */
function filesOf(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesOf(join(dir, e.name)) : [join(dir, e.name)],
  )
}

const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_UPDATE_NOTIFIER: '1', npm_config_fund: 'false', npm_config_audit: 'false' },
  })

/** Builds packages/<name>, packs it with `npm pack`, installs the tarball into an empty project. */
function packAndInstall(name: string, work: string): { project: string; tarball: string; installedBytes: number } {
  const dir = join(root, 'packages', name)
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir })
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], dir)) as Array<{ filename: string }>
  const tarball = join(work, packed!.filename.replace(/^@writ\//, 'writ-'))
  const project = join(work, `${name}-project`)
  execFileSync('mkdir', ['-p', project])
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `try-${name}`, private: true, type: 'module' }))
  npm(['install', '--prefer-offline', '--no-package-lock', tarball], project)
  return { project, tarball, installedBytes: sizeOf(join(project, 'node_modules')) }
}

describe('the lean JS packages, packed and installed into an empty project', () => {
  let broker: HttpBroker
  let work: string

  beforeAll(async () => {
    broker = await startHttpBroker()
    work = mkdtempSync(join(tmpdir(), 'writ-packages-'))
  })
  afterAll(async () => {
    await broker?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('@writ/verifier installs with jose and ioredis only, within 5 MB, and verifies a broker token', async () => {
    const { project, tarball, installedBytes } = packAndInstall('verifier', work)
    const installed = readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.'))
    console.log(`@writ/verifier: tarball ${(statSync(tarball).size / 1024).toFixed(1)} kB, installed with dependencies ${(installedBytes / MB).toFixed(2)} MB (${installed.join(', ')})`)
    expect(installedBytes).toBeLessThanOrEqual(5 * MB)
    expect(readdirSync(join(project, 'node_modules/@writ'))).toEqual(['verifier'])
    const deps = JSON.parse(readFileSync(join(project, 'node_modules/@writ/verifier/package.json'), 'utf8')).dependencies
    expect(Object.keys(deps).sort()).toEqual(['ioredis', 'jose'])

    const issued = await fetch(`${broker.url}/v1/tokens`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`agent-a:${encodeURIComponent(SECRETS['agent-a']).replace(/%20/g, '+')}`).toString('base64')}`,
      },
      body: JSON.stringify(docsManifest()),
    })
    expect(issued.status).toBe(200)
    const { access_token: token } = (await issued.json()) as { access_token: string }
    writeFileSync(
      join(project, 'verify.mjs'),
      `import { createVerifier } from '@writ/verifier'
const [issuer, token, redis, keyPrefix] = process.argv.slice(2)
const verifier = createVerifier({ issuer, audience: '${APP}', jwksUri: issuer + '/.well-known/jwks.json',
  liveness: { mode: 'redis', redis, keyPrefix } })
const claims = await verifier.verify(token)
verifier.authorize(claims, { type: 'repo', action: 'read', resource: { identifier: 'docs/README.md' } })
console.log(JSON.stringify({ client: claims.client_id, task: claims.task.id }))
await verifier.close()
`,
    )
    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    const { stdout: out } = await run(process.execPath, ['verify.mjs', broker.url, token, redisUrl, broker.prefix], { cwd: project })
    expect(JSON.parse(out)).toEqual({ client: 'agent-a', task: 'JIRA-4711' })
  }, 300_000)

  it('@writ/client installs with jose only, within 2 MB, uses no node: module, and gets a token', async () => {
    const { project, tarball, installedBytes } = packAndInstall('client', work)
    const installed = readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.'))
    console.log(`@writ/client: tarball ${(statSync(tarball).size / 1024).toFixed(1)} kB, installed with dependencies ${(installedBytes / MB).toFixed(2)} MB (${installed.join(', ')})`)
    expect(installedBytes).toBeLessThanOrEqual(2 * MB)
    expect(installed.sort()).toEqual(['@writ', 'jose'])
    // Runs where only fetch and WebCrypto exist (Deno, Bun, edge): no Node built-in is imported.
    for (const file of filesOf(join(project, 'node_modules/@writ/client')).filter((f) => f.endsWith('.js'))) {
      expect(readFileSync(file, 'utf8'), file).not.toMatch(/from ['"]node:|require\(['"]node:/)
    }
    writeFileSync(
      join(project, 'get.mjs'),
      `import { requestToken, createDpopProof } from '@writ/client'
const [broker, secret] = process.argv.slice(2)
const dpopKey = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
const token = await requestToken({ broker, credentials: { clientId: 'agent-a', clientSecret: secret }, dpopKey,
  manifest: { task: { id: 'JIRA-4711' }, ttl: '5m', grants: [{ type: 'repo', actions: ['read'],
    locations: ['${APP}'], identifier: 'docs/**' }] } })
console.log(JSON.stringify({ type: token.tokenType, scope: token.scope }))
`,
    )
    const { stdout: out } = await run(process.execPath, ['get.mjs', broker.url, SECRETS['agent-a']], { cwd: project })
    expect(JSON.parse(out)).toEqual({ type: 'DPoP', scope: 'repo:read' })
  }, 300_000)
})
