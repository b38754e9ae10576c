import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import type { Browser } from 'playwright-core'
import { launchChromium } from '../helpers/chromium.js'
import { parse as parseYaml } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBroker, readOpenApiDocument, type Broker } from '../../src/broker.js'
import { parseConfig } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { approvalPolicyText } from '../approvals/helpers.js'
import { freePort } from '../helpers/redis.js'

/**
 * `/docs` in Debian's Chromium (playwright-core): the reference renders every operation of the
 * served openapi.yaml, the strict CSP holds (the browser reports no violation), and no request
 * leaves the broker's origin.
 */
const OUT = resolve(import.meta.dirname, '../../test-output')

let broker: Broker
let server: ServerType
let browser: Browser
let base: string

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true })
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  broker = await createBroker(parseConfig({ issuer: base, devMode: true, admin: { bootstrap: false } }), {
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

describe('/docs in a real browser', () => {
  it('renders every operation of the served openapi.yaml, within the CSP, without leaving the origin', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 2400 } })
    const page = await context.newPage()
    const requests: string[] = []
    const violations: string[] = []
    const failures: string[] = []
    page.on('request', (req) => requests.push(req.url()))
    page.on('console', (msg) => {
      if (/Content.Security.Policy|Refused to/i.test(msg.text())) violations.push(msg.text())
    })
    page.on('pageerror', (err) => failures.push(err.message))

    const res = await page.goto(`${base}/docs`)
    expect(res?.status()).toBe(200)
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'")
    await page.waitForSelector('.opblock-summary', { timeout: 30_000 })

    const document = parseYaml(readOpenApiDocument()) as { paths: Record<string, Record<string, unknown>> }
    const operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((method) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
        .map((method) => `${method.toUpperCase()} ${path}`),
    )
    const shown = await page.$$eval('.opblock-summary', (els) =>
      els.map((el) => {
        const method = el.querySelector('.opblock-summary-method')?.textContent?.trim() ?? ''
        const path = el.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? ''
        return `${method} ${path}`
      }),
    )
    // An operation with two tags is listed under each.
    expect([...new Set(shown)].sort()).toEqual(operations.sort())
    expect(await page.textContent('.info .title')).toContain('writ')

    await page.screenshot({ path: resolve(OUT, 'docs.png'), fullPage: false })

    expect(violations).toEqual([])
    expect(failures).toEqual([])
    const foreign = requests.filter((url) => !url.startsWith(`${base}/`) && !url.startsWith('data:'))
    expect(foreign).toEqual([])
    expect(requests).toContain(`${base}/openapi.yaml`)
    await context.close()
  }, 60_000)

  it('serves only the assets it names', async () => {
    expect((await fetch(`${base}/docs/assets/swagger-ui.css`)).status).toBe(200)
    expect((await fetch(`${base}/docs/assets/package.json`)).status).toBe(404)
    expect((await fetch(`${base}/docs/assets/..%2Fpackage.json`)).status).toBe(404)
    expect((await fetch(`${base}/docs/assets/constructor`)).status).toBe(404)
  })
})
