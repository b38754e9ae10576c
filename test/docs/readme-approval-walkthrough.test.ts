/**
 * The README's approval walkthrough ("Try it: approve a deploy in the browser"), run as a reader
 * would: every command is taken from the README and run verbatim through sh (only the port is
 * changed, so parallel test runs do not collide), and the two browser steps are done in Debian's
 * Chromium with a CDP virtual authenticator (a passkey-capable platform key with user
 * verification): broker start in dev mode, enrolment from the printed link, a DPoP-bound token
 * requested through the CLI, approval on the page, the token collected, revoked, and inactive.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { decodeJwt } from 'jose'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from '../helpers/chromium.js'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../helpers/redis.js'
import { readmeShellBlocks, ROOT, SHIMS } from './readme-commands.js'

/** Screenshots of the approval page at phone size (test-output/ is not committed). */
const OUT = resolve(ROOT, 'test-output')
const children: ChildProcess[] = []
let browser: Browser | undefined
const dir = mkdtempSync(join(tmpdir(), 'writ-readme-walkthrough-'))

afterAll(async () => {
  await browser?.close()
  for (const child of children) {
    if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGTERM')
  }
  rmSync(dir, { recursive: true, force: true })
})

/** Runs README text through sh in its own process group; stdout and stderr collected as they come. */
function sh(script: string, port: number) {
  const child = spawn('sh', ['-c', SHIMS + script.replaceAll('localhost:8080', `localhost:${port}`)], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, NO_COLOR: '1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  children.push(child)
  const out = { stdout: '', stderr: '' }
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()))
  const done = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)))
  return { out, done }
}

async function until<T>(what: string, read: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = read()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function phoneWithPasskey(): Promise<Page> {
  browser ??= await launchChromium()
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } })
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  })
  return page
}

describe('the README approval walkthrough', () => {
  it('enrols a passkey, approves a DPoP-bound deploy token in the browser, and revokes it', async () => {
    symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'))
    const [start, request, revoke, curl, ...rest] = readmeShellBlocks('Try it: approve a deploy in the browser')
    expect(rest).toEqual([])
    expect(start).toMatch(/^WRIT_DEV=1 npm start\b/)
    const port = await freePort()

    // 1. The broker in dev mode prints a one-time enrolment link.
    const broker = sh(start!, port)
    const link = await until('the enrolment link', () => /http:\/\/localhost:\d+\/enroll\/\S+/.exec(broker.out.stdout)?.[0])
    expect(link).toContain(`localhost:${port}`)
    expect(broker.out.stdout).toContain('DEV MODE')

    // 2. alice opens it and enrols a passkey.
    const page = await phoneWithPasskey()
    await page.goto(link)
    await expect(page.locator('.banner').textContent()).resolves.toContain('DEV MODE')
    await page.click('button[data-action="enroll"]')
    await page.locator('#result').filter({ hasText: /enrolled|error|not accepted/i }).waitFor()
    expect(await page.locator('#result').textContent()).toContain('Security key enrolled for alice@example.com')

    // 3. The agent asks through the CLI (DPoP key created on first use), and waits; then ends the
    //    token and introspects it. The test appends one line to read the token back.
    const agent = sh(`${request}\n${revoke}\necho "token=$TOKEN"`, port)
    const approvalUrl = await until('the approval URL', () => /http:\/\/localhost:\d+\/approve\/[\w-]+/.exec(agent.out.stderr)?.[0])
    expect(agent.out.stderr).toContain('generated a DPoP key in agent.jwk')
    expect(statSync(join(dir, 'agent.jwk')).mode & 0o777).toBe(0o600)

    // 4. alice approves on the page, on a phone-sized screen (390×844): Approve and Deny are in
    //    view without scrolling, the page says the token is DPoP-bound and shows the dev banner.
    await page.goto(approvalUrl)
    await expect(page.locator('.banner').textContent()).resolves.toContain('DEV MODE')
    expect(await page.locator('main').innerText()).toContain('DPoP-bound')
    for (const action of ['approve', 'deny']) {
      const box = await page.locator(`button[data-action="${action}"]`).boundingBox()
      expect(box, action).not.toBeNull()
      expect(box!.y).toBeGreaterThanOrEqual(0)
      expect(box!.y + box!.height, `${action} button bottom`).toBeLessThanOrEqual(844)
      expect(box!.x + box!.width).toBeLessThanOrEqual(390)
    }
    expect(await page.locator('[data-progress]').first().textContent()).toBe('0')
    mkdirSync(OUT, { recursive: true })
    await page.screenshot({ path: join(OUT, 'approval-phone-before.png') })
    await page.click('button[data-action="approve"]')
    await page.locator('#result').filter({ hasText: /Approved by|error|not accepted/i }).waitFor()
    expect(await page.locator('#result').textContent()).toContain('Approved by alice@example.com')
    expect(await page.locator('[data-progress]').first().textContent()).toBe('1')
    expect(await page.locator('#state').textContent()).toBe('Approved')
    await page.screenshot({ path: join(OUT, 'approval-phone-after.png') })
    // The screenshots are real phone-sized images of the page.
    for (const shot of ['approval-phone-before.png', 'approval-phone-after.png']) {
      const png = readFileSync(join(OUT, shot))
      expect(png.subarray(1, 4).toString()).toBe('PNG')
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([390, 844])
    }
    // A page that only says something carries the dev banner too (the enrolment link is used).
    await page.goto(link)
    expect(await page.locator('h1').textContent()).toBe('Invite not valid')
    await expect(page.locator('.banner').textContent()).resolves.toContain('DEV MODE')

    // 5. The token was collected, bound to the DPoP key, then revoked: introspection says inactive.
    expect(await agent.done).toBe(0)
    const token = /token=(\S+)/.exec(agent.out.stdout)?.[1]
    expect(token).toBeDefined()
    const claims = decodeJwt(token!)
    expect(claims.cnf).toMatchObject({ jkt: expect.any(String) })
    expect(claims.approval).toMatchObject({ approvers: [expect.objectContaining({ sub: 'alice@example.com' })] })
    expect(agent.out.stdout).toContain(`revoked: grant ${String(claims.jti)} is no longer active`)
    expect(agent.out.stdout).toContain('{"active":false}')

    // 6. With alice's key enrolled, the curl example for the rule without require_dpop is
    //    accepted (202), and its poll (the README's placeholder replaced by the real handle) waits.
    const [ask, pollCommand] = curl!.split('\n\n')
    const asked = sh(ask!, port)
    expect(await asked.done).toBe(0)
    const pending = JSON.parse(asked.out.stdout)
    expect(pending.approval_uri).toMatch(new RegExp(`^http://localhost:${port}/approve/`))
    const polled = sh(pollCommand!.replace('Yp3….q8…', pending.auth_req_id), port)
    expect(await polled.done).toBe(0)
    expect(JSON.parse(polled.out.stdout).error).toBe('authorization_pending')
  }, 180_000)
})
