import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { resolve } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import { auth, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import { Redis } from 'ioredis'
import { decodeJwt } from 'jose'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { launchChromium } from '../helpers/chromium.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBroker, type Broker } from '../../src/broker.js'
import { hashSecret } from '../../src/client-auth/index.js'
import { manualClock } from '../../src/clock.js'
import { parseConfig } from '../../src/config.js'
import type { RedisBackend } from '../../src/store/redis-backend.js'
import { createRedisStore, type Store } from '../../src/open-store.js'
import { silentLogger } from '../../src/logger.js'
import { ADMIN_TOKEN } from '../approvals/helpers.js'
import { authorizationPolicyText, CLIENT, DEPLOY, DOCS, RS } from '../authorization/helpers.js'
import { freePort } from '../helpers/redis.js'

/**
 * The authorization code flow as an interactive MCP client runs it: the official MCP SDK's
 * `auth()` with an `OAuthClientProvider` (a pre-registered public client), discovery from writ's
 * metadata, the consent page in Debian's Chromium with a CDP virtual authenticator, the redirect
 * caught by a loopback server on an ephemeral port (RFC 8252 §7.3), the code exchanged by the
 * SDK. The broker runs on Redis. The virtual authenticator attests with `none`, so attestation is
 * in dev mode here.
 */
const OUT = resolve(import.meta.dirname, '../../test-output')
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const PREFIX = `writ-test-${randomBytes(6).toString('hex')}:`
const RESOURCE = 'https://git.example.com/acme/app'

let broker: Broker
let grants: Store<RedisBackend>
let server: ServerType
let callbackServer: Server
let browser: Browser
let context: BrowserContext
let page: Page
let base: string
let callbackBase: string
const clock = manualClock(Date.now())
/** Every request the loopback redirect server received. */
const callbacks: URL[] = []

/**
 * A desktop MCP client's provider: pre-registered as the public client `desktop-app`, with its
 * redirect on a loopback port. `redirectToAuthorization` hands the URL to the test (the "browser
 * opener"), which adds the grants the app asks for (authorization_details) and opens it.
 */
class DesktopProvider implements OAuthClientProvider {
  saved?: OAuthTokens
  verifier = ''
  authorizationUrl?: URL
  constructor(readonly redirect: string) {}
  get redirectUrl(): string {
    return this.redirect
  }
  get clientMetadata(): OAuthClientMetadata {
    return { redirect_uris: [this.redirect], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], client_name: CLIENT }
  }
  state(): string {
    return 'sdk-state-1'
  }
  clientInformation(): OAuthClientInformationMixed {
    return { client_id: CLIENT }
  }
  tokens(): OAuthTokens | undefined {
    return this.saved
  }
  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens
  }
  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url
  }
  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier
  }
  codeVerifier(): string {
    return this.verifier
  }
  async validateResourceURL(): Promise<URL> {
    return new URL(RESOURCE)
  }
}

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true })
  const port = await freePort()
  base = `http://localhost:${port}`
  const callbackPort = await freePort()
  callbackBase = `http://127.0.0.1:${callbackPort}`
  callbackServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', callbackBase)
    if (url.pathname !== '/favicon.ico') callbacks.push(url)
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>You may close this window</h1>')
  })
  await new Promise<void>((r) => callbackServer.listen(callbackPort, '127.0.0.1', r))

  grants = createRedisStore({ url: REDIS_URL, keyPrefix: PREFIX, clock })
  broker = await createBroker(
    parseConfig({
      issuer: base,
      devMode: true,
      admin: { tokenHash: await hashSecret(ADMIN_TOKEN) },
      approvals: { attestation: { mode: 'dev' } },
    }),
    { logger: silentLogger, clock, store: grants, policyText: (await authorizationPolicyText()) },
  )
  // The SDK tells error responses by `instanceof Response`: keep the platform's classes.
  server = serve({ fetch: broker.app.fetch, port, hostname: '127.0.0.1', overrideGlobalObjects: false })
  browser = await launchChromium()
  context = await browser.newContext({ viewport: { width: 414, height: 896 } })
  page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  })
  // Alice enrols her key (discoverable: the consent page asks for no particular key).
  const invite = (await (
    await fetch(`${base}/admin/approvers/invites`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ approver: 'alice@example.com', group: 'release-managers' }),
    })
  ).json()) as { invite_url: string }
  await page.goto(invite.invite_url)
  await page.click('button[data-action="enroll"]')
  await page.locator('#result').filter({ hasText: /enrolled|error/i }).waitFor()
  expect(await page.locator('#result').textContent()).toContain('Security key enrolled for alice@example.com')
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await new Promise((r) => server?.close(r))
  await new Promise((r) => callbackServer?.close(r))
  await broker?.close()
  await grants?.close()
  const admin = new Redis(REDIS_URL)
  const keys = await admin.keys(`${PREFIX}*`)
  if (keys.length > 0) await admin.del(...keys)
  await admin.quit()
})

/** The SDK starts the flow; the test opens the URL with the grants the app asks for. */
async function sdkAuthorizationUrl(provider: DesktopProvider, grantsAsked: unknown[]): Promise<string> {
  expect(await auth(provider, { serverUrl: base })).toBe('REDIRECT')
  const url = new URL(provider.authorizationUrl!)
  url.searchParams.set('authorization_details', JSON.stringify(grantsAsked))
  return url.toString()
}

/** Opens the consent page, allows with the security key, and returns the code the redirect carried. */
async function allowInBrowser(url: string): Promise<URL> {
  const before = callbacks.length
  await page.goto(url)
  await expect(page.locator('h1').textContent()).resolves.toBe('Allow an application to act for you?')
  await page.click('button[data-action="consent"]')
  await page.waitForURL(`${callbackBase}/**`)
  expect(callbacks.length).toBe(before + 1)
  return callbacks.at(-1)!
}

const introspect = async (token: string): Promise<{ active: boolean }> =>
  (
    await fetch(`${base}/oauth/introspect`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${RS[0]}:${RS[1]}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    })
  ).json() as Promise<{ active: boolean }>

describe('the authorization code flow with the MCP SDK and a real browser', () => {
  it('discovers writ, gets consent with a security key, and exchanges the code for a token for the person', async () => {
    const provider = new DesktopProvider(`${callbackBase}/callback`)
    const url = await sdkAuthorizationUrl(provider, DOCS)
    const sent = new URL(url)
    expect(sent.origin + sent.pathname).toBe(`${base}/oauth/authorize`)
    expect(sent.searchParams.get('code_challenge_method')).toBe('S256')
    expect(sent.searchParams.get('resource')).toBe(RESOURCE)
    await page.goto(url)
    const text = await page.locator('main').innerText()
    for (const shown of [CLIENT, `${callbackBase}/callback`, 'docs/**', RESOURCE, 'DEV MODE']) expect(text).toContain(shown)
    await page.screenshot({ path: `${OUT}/consent-page.png`, fullPage: true })

    const back = await allowInBrowser(url)
    expect(back.searchParams.get('state')).toBe('sdk-state-1')
    expect(back.searchParams.get('iss')).toBe(base)
    expect(await auth(provider, { serverUrl: base, authorizationCode: back.searchParams.get('code')! })).toBe('AUTHORIZED')
    const claims = decodeJwt(provider.saved!.access_token)
    expect(claims).toMatchObject({ sub: 'alice@example.com', client_id: CLIENT, aud: RESOURCE })
    expect(provider.saved!.refresh_token).toBeUndefined()
    expect((await introspect(provider.saved!.access_token)).active).toBe(true)
  })

  it('refuses a code presented again, and the token it gave stops working', async () => {
    const provider = new DesktopProvider(`${callbackBase}/callback`)
    const code = (await allowInBrowser(await sdkAuthorizationUrl(provider, DOCS))).searchParams.get('code')!
    await auth(provider, { serverUrl: base, authorizationCode: code })
    const token = provider.saved!.access_token
    await expect(auth(provider, { serverUrl: base, authorizationCode: code })).rejects.toThrow(/authorization code is invalid/)
    expect((await introspect(token)).active).toBe(false)
  })

  it('refuses a code with another PKCE verifier', async () => {
    const provider = new DesktopProvider(`${callbackBase}/callback`)
    const code = (await allowInBrowser(await sdkAuthorizationUrl(provider, DOCS))).searchParams.get('code')!
    provider.verifier = randomBytes(32).toString('base64url')
    await expect(auth(provider, { serverUrl: base, authorizationCode: code })).rejects.toThrow(/authorization code is invalid/)
    expect(provider.saved).toBeUndefined()
  })

  it('refuses an expired code', async () => {
    const provider = new DesktopProvider(`${callbackBase}/callback`)
    const code = (await allowInBrowser(await sdkAuthorizationUrl(provider, DOCS))).searchParams.get('code')!
    clock.advance(61_000)
    await expect(auth(provider, { serverUrl: base, authorizationCode: code })).rejects.toThrow(/authorization code is invalid/)
  })

  it('shows an unregistered redirect URI on the page and sends the browser nowhere', async () => {
    const provider = new DesktopProvider(`${callbackBase}/elsewhere`)
    const before = callbacks.length
    await page.goto(await sdkAuthorizationUrl(provider, DOCS))
    await expect(page.locator('h1').textContent()).resolves.toBe('This authorization request cannot be used')
    expect(await page.locator('main').innerText()).toContain('redirect_uri: not one registered')
    expect(page.url().startsWith(base)).toBe(true)
    expect(callbacks.length).toBe(before)
  })

  it('refuses a consent whose signed challenge was made for other grants', async () => {
    // Two requests: docs (shown to the person) and deploy. The page's options call is answered
    // with the deploy request's challenge, as a script in the page or a proxy could do.
    const docs = await sdkAuthorizationUrl(new DesktopProvider(`${callbackBase}/callback`), DOCS)
    const deployUrl = new URL(await sdkAuthorizationUrl(new DesktopProvider(`${callbackBase}/callback`), DEPLOY))
    // (The resource the SDK names is the docs server's: the deploy grants do not cover it.)
    deployUrl.searchParams.delete('resource')
    const deploy = deployUrl.toString()
    const opened = await fetch(deploy, { redirect: 'manual' })
    const deployPage = await opened.text()
    expect(opened.status, deployPage).toBe(200)
    const deployId = /data-base="\/oauth\/authorize\/([^"]+)"/.exec(deployPage)![1]!
    await page.route('**/oauth/authorize/*/options', async (route) => {
      const other = await fetch(`${base}/oauth/authorize/${deployId}/options`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      await route.fulfill({ status: 200, contentType: 'application/json', body: await other.text() })
    })
    const before = callbacks.length
    try {
      await page.goto(docs)
      await page.click('button[data-action="consent"]')
      await page.locator('#result').filter({ hasText: /not accepted|Allowed/ }).waitFor()
      expect(await page.locator('#result').textContent()).toContain('not accepted')
    } finally {
      await page.unroute('**/oauth/authorize/*/options')
    }
    expect(callbacks.length).toBe(before)
    expect(page.url().startsWith(base)).toBe(true)
  })
})
