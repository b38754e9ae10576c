import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import { decodeJwt } from 'jose'
import type { Browser } from 'playwright-core'
import { launchChromium } from '../helpers/chromium.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyApprovalEvidence } from '../../src/approvals/evidence/verify-approval-evidence.js'
import { createBroker, type Broker } from '../../src/broker.js'
import { parseConfig } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { A, ADMIN_TOKEN, approvalPolicyText, deployManifest } from '../approvals/helpers.js'
import { hashSecret } from '../../src/client-auth/index.js'
import { freePort } from '../helpers/redis.js'

/**
 * The whole loop in a real browser: Debian's Chromium driven by playwright-core, with a CDP
 * virtual authenticator (CTAP2, USB, user verification). The virtual authenticator attests with
 * `none`/self attestation, so this broker runs with dev-mode attestation (strict attestation is
 * proven by the HTTP tests with a software authenticator and a test PKI).
 */
const OUT = resolve(import.meta.dirname, '../../test-output')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any
const body = (res: Response): Promise<Json> => res.json()

let broker: Broker
let server: ServerType
let browser: Browser
let base: string

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true })
  const port = await freePort()
  base = `http://localhost:${port}`
  const config = parseConfig({
    issuer: base,
    devMode: true,
    admin: { tokenHash: await hashSecret(ADMIN_TOKEN) },
    approvals: { pollIntervalSeconds: 1, attestation: { mode: 'dev' } },
  })
  broker = await createBroker(config, {
    logger: silentLogger,
    policyText: (await approvalPolicyText()),
    env: { WRIT_TEST_WEBHOOK_SECRET: 'e2e' },
    fetch: async () => new Response(null, { status: 204 }),
  })
  server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1' })
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await new Promise((r) => server?.close(r))
  await broker?.close()
})

const basic = `Basic ${Buffer.from(`${encodeURIComponent(A[0])}:${encodeURIComponent(A[1]).replace(/%20/g, '+')}`).toString('base64')}`

describe('approval in a real browser', () => {
  it('an approver enrols a key, approves a waiting request, and the agent gets a token naming that key', async () => {
    const context = await browser.newContext({ viewport: { width: 414, height: 896 }, deviceScaleFactor: 1 })
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

    // An admin invites alice; she opens the link and enrols her security key.
    const invite = await body(
      await fetch(`${base}/admin/approvers/invites`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ approver: 'alice@example.com', group: 'release-managers' }),
      })
    )
    await page.goto(invite.invite_url)
    await expect(page.locator('h1').textContent()).resolves.toBe('Enrol a security key')
    await page.screenshot({ path: `${OUT}/enrolment-page.png`, fullPage: true })
    await page.click('button[data-action="enroll"]')
    await page.locator('#result').filter({ hasText: /enrolled|error|not accepted/i }).waitFor()
    const enrolled = await page.locator('#result').textContent()
    expect(enrolled).toContain('Security key enrolled for alice@example.com')
    await page.screenshot({ path: `${OUT}/enrolment-done.png`, fullPage: true })
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    expect(credentials).toHaveLength(1)
    const credentialId = Buffer.from(credentials[0]!.credentialId, 'base64').toString('base64url')

    // The agent asks for a deploy grant; it must wait for a human.
    const asked = await fetch(`${base}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/json' },
      body: JSON.stringify(deployManifest()),
    })
    expect(asked.status).toBe(202)
    const pending = await body(asked)
    const pollOnce = async () => {
      const res = await fetch(`${base}/oauth/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: pending.auth_req_id }),
      })
      return { status: res.status, body: await body(res) }
    }
    expect((await pollOnce()).body.error).toBe('authorization_pending')

    // Alice opens the approval page, sees exactly what is asked, and taps her key.
    await page.goto(pending.approval_uri)
    const text = await page.locator('main').innerText()
    for (const shown of ['agent-a', 'REL-42', 'Deploy release 4.2 to production', 'carol@example.com', 'https://deploy.example.com/acme/app', 'DEV MODE']) {
      expect(text).toContain(shown)
    }
    await page.screenshot({ path: `${OUT}/approval-page.png`, fullPage: true })
    await page.click('button[data-action="approve"]')
    await page.locator('#result').filter({ hasText: /Approved by|error|not accepted/i }).waitFor()
    expect(await page.locator('#result').textContent()).toContain('Approved by alice@example.com')
    await page.screenshot({ path: `${OUT}/approval-done.png`, fullPage: true })

    // The agent's poll (as a real client polls: every interval, slower when told) returns the token.
    let interval = pending.interval as number
    let outcome = await pollOnce()
    for (let i = 0; i < 20 && outcome.status !== 200; i++) {
      expect(['authorization_pending', 'slow_down']).toContain(outcome.body.error)
      if (outcome.body.error === 'slow_down') interval += 5
      await sleep(interval * 1000)
      outcome = await pollOnce()
    }
    expect(outcome.status).toBe(200)
    const claims = decodeJwt(outcome.body.access_token)
    const approval = claims.approval as { id: string; approvers: Array<{ sub: string; credential_id: string; aaguid: string }> }
    expect(approval.id).toBe(pending.auth_req_id.split('.')[0])
    expect(approval.approvers).toHaveLength(1)
    expect(approval.approvers[0]).toMatchObject({ sub: 'alice@example.com', credential_id: credentialId })

    // The evidence re-verifies offline.
    const evidence = await body(
      await fetch(`${base}/admin/approvals/${approval.id}/evidence`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
    )
    const verified = await verifyApprovalEvidence(evidence, { policy: broker.policy.current() })
    expect(verified.problems).toEqual([])
    expect(evidence.votes[0].aaguid).toBe(approval.approvers[0]!.aaguid)
    await context.close()
  })
})
