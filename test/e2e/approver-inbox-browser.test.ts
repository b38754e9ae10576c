import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import { Redis } from 'ioredis'
import { decodeJwt } from 'jose'
import type { Browser } from 'playwright-core'
import { launchChromium } from '../helpers/chromium.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBroker, type Broker } from '../../src/broker.js'
import { hashSecret } from '../../src/client-auth/index.js'
import { manualClock } from '../../src/clock.js'
import { parseConfig } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { createRedisStore, type Store } from '../../src/open-store.js'
import type { RedisBackend } from '../../src/store/redis-backend.js'
import { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { A, ADMIN_TOKEN, B, approvalPolicyText, deployManifest, migrateManifest } from '../approvals/helpers.js'
import { deleteKeysWithPrefix, freePort } from '../helpers/redis.js'

/**
 * The approver inbox in Debian's Chromium (playwright-core) with a CDP virtual authenticator
 * (CTAP2, resident keys, user verification), against a broker on a real socket, on Redis. Alice
 * enrols her key in the browser, signs in to `/approve` with it (a discoverable credential: no
 * name typed), sees exactly the two deploy requests of her group (newest first) and not the
 * database migration another group decides, opens one from the list and approves it with that
 * request's own ceremony; the agent collects a token naming her key. The virtual authenticator
 * attests with `none`, so attestation is in dev mode here.
 */
const OUT = resolve(import.meta.dirname, '../../test-output')
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const PREFIX = `writ-test-${randomBytes(6).toString('hex')}:`
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

let broker: Broker
let store: Store<RedisBackend>
let server: ServerType
let browser: Browser
let base: string
const clock = manualClock(Date.now())

const basic = (client: [string, string]) =>
  `Basic ${Buffer.from(`${encodeURIComponent(client[0])}:${encodeURIComponent(client[1]).replace(/%20/g, '+')}`).toString('base64')}`

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: await res.json() }
}

const invite = async (approver: string, group: string): Promise<string> =>
  (await post('/admin/approvers/invites', { approver, group }, { authorization: `Bearer ${ADMIN_TOKEN}` })).body.invite_url

/** Enrols a software key (none attestation, accepted in dev mode) for someone the test does not drive in the browser. */
async function enrolSoftKey(approver: string, group: string): Promise<void> {
  const path = new URL(await invite(approver, group)).pathname
  const auth = new SoftAuthenticator({ aaguid: '00000000-0000-0000-0000-000000000000', origin: base, attestation: { fmt: 'none' } })
  const options = await post(`${path}/options`, {})
  const done = await post(`${path}/verify`, auth.register(options.body))
  expect(done.status).toBe(200)
}

async function ask(client: [string, string], manifest: unknown): Promise<{ id: string; auth_req_id: string; approval_uri: string }> {
  const res = await post('/v1/tokens', manifest, { authorization: basic(client) })
  expect(res.status).toBe(202)
  return { ...res.body, id: String(res.body.auth_req_id).split('.')[0] }
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true })
  const port = await freePort()
  base = `http://localhost:${port}`
  store = createRedisStore({ url: REDIS_URL, keyPrefix: PREFIX, clock })
  broker = await createBroker(
    parseConfig({
      issuer: base,
      devMode: true,
      admin: { tokenHash: await hashSecret(ADMIN_TOKEN) },
      approvals: { attestation: { mode: 'dev' } },
    }),
    {
      logger: silentLogger,
      clock,
      store,
      policyText: await approvalPolicyText(),
      env: { WRIT_TEST_WEBHOOK_SECRET: 'e2e' },
      fetch: async () => new Response(null, { status: 204 }),
    },
  )
  server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1' })
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await new Promise((r) => server?.close(r))
  await broker?.close()
  const redis = new Redis(REDIS_URL)
  await deleteKeysWithPrefix(redis, PREFIX)
  await redis.quit()
})

describe('approver inbox in a real browser', () => {
  it('signs in with a key, lists the two requests of her group and none of another, and approves one from the list', async () => {
    const context = await browser.newContext({ viewport: { width: 414, height: 896 } })
    const page = await context.newPage()
    const cdp = await context.newCDPSession(page)
    await cdp.send('WebAuthn.enable')
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'usb',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    })

    // Alice enrols her key in the browser; the dbas get keys too, so their request can be made.
    await page.goto(await invite('alice@example.com', 'release-managers'))
    await page.click('button[data-action="enroll"]')
    await page.locator('#result').filter({ hasText: /enrolled|error|not accepted/i }).waitFor()
    expect(await page.locator('#result').textContent()).toContain('Security key enrolled for alice@example.com')
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    expect(credentials).toHaveLength(1)
    expect(credentials[0]!.isResidentCredential).toBe(true)
    const credentialId = Buffer.from(credentials[0]!.credentialId, 'base64').toString('base64url')
    await enrolSoftKey('dana@example.com', 'dbas')
    await enrolSoftKey('erin@example.com', 'dbas')

    // Two deploys (release-managers decide; carol asked) and a migration (dbas decide).
    const older = await ask(A, deployManifest({ task: { id: 'REL-7', purpose: 'Deploy 4.7', requested_by: 'carol@example.com' } }))
    clock.advance(2000)
    const migration = await ask(A, migrateManifest())
    clock.advance(2000)
    const newer = await ask(B, deployManifest({ task: { id: 'REL-8', purpose: 'Deploy 4.8', requested_by: 'carol@example.com' } }))

    // Alice opens the inbox and signs in with her key; no name typed, the key says who she is.
    await page.goto(`${base}/approve`)
    expect(await page.locator('h1').textContent()).toBe('Approver inbox')
    await page.screenshot({ path: `${OUT}/inbox-sign-in.png`, fullPage: true })
    await Promise.all([page.waitForURL(`${base}/approve`, { waitUntil: 'load' }), page.click('button[data-action="sign-in"]')])
    await page.locator('#count').waitFor()
    expect(await page.locator('main').innerText()).toContain('Signed in as alice@example.com')
    await page.screenshot({ path: `${OUT}/inbox-list.png`, fullPage: true })

    // Exactly her group's two requests, newest first; not the migration.
    const listed = await page.locator('[data-approval]').evaluateAll((els) => els.map((e) => e.getAttribute('data-approval')))
    expect(listed).toEqual([newer.id, older.id])
    expect(listed).not.toContain(migration.id)
    expect(await page.locator('#count').textContent()).toBe('2 requests waiting for you')
    const text = await page.locator('main').innerText()
    expect(text).toContain('REL-8')
    expect(text).toContain('Deploy 4.7')
    expect(text).not.toContain('DB-7')

    // The session cookie: HttpOnly, SameSite=Strict, only for /approve on this http://localhost trial.
    const cookies = await context.cookies(`${base}/approve`)
    expect(cookies).toEqual([
      expect.objectContaining({ name: 'writ_inbox', path: '/approve', httpOnly: true, sameSite: 'Strict' }),
    ])
    expect(await page.evaluate('document.cookie')).toBe('')

    // She opens the older request from the list and approves it: that request's own ceremony.
    await Promise.all([page.waitForURL(`${base}/approve/${older.id}`), page.click(`[data-approval="${older.id}"] a`)])
    expect(await page.locator('main').innerText()).toContain('REL-7')
    await page.click('button[data-action="approve"]')
    await page.locator('#result').filter({ hasText: /Approved by|error|not accepted/i }).waitFor()
    expect(await page.locator('#result').textContent()).toContain('Approved by alice@example.com')
    await page.screenshot({ path: `${OUT}/inbox-approved.png`, fullPage: true })

    // The agent collects the token, naming her key.
    clock.advance(10_000)
    const token = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { authorization: basic(A), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: older.auth_req_id }),
    })
    expect(token.status).toBe(200)
    const claims = decodeJwt(((await token.json()) as Json).access_token)
    expect(claims.approval).toMatchObject({ id: older.id, approvers: [{ sub: 'alice@example.com', credential_id: credentialId }] })

    // Back in the inbox, only the newer request waits; the other is still pending.
    await page.goto(`${base}/approve`)
    expect(await page.locator('[data-approval]').evaluateAll((els) => els.map((e) => e.getAttribute('data-approval')))).toEqual([newer.id])

    // Signing out ends the session.
    await Promise.all([page.waitForURL(`${base}/approve`, { waitUntil: 'load' }), page.click('button[data-action="sign-out"]')])
    await page.locator('button[data-action="sign-in"]').waitFor()
    expect(await context.cookies(`${base}/approve`)).toEqual([])
    await context.close()
  })
})
