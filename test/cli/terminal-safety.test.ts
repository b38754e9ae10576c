import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { createOutput } from '../../src/cli/output.js'
import { runCli } from '../helpers/cli.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'

let http: HttpBroker
let adminToken: string

beforeAll(async () => {
  const { token, tokenHash } = await createAdminToken()
  adminToken = token
  http = await startHttpBroker({ admin: { tokenHash } })
})
afterAll(() => http?.close())

const env = () => ({ WRIT_URL: http.url, WRIT_ADMIN_TOKEN: adminToken })

/** Moves the cursor up a line and erases it, then writes a line of its own: a forged log line. */
const FORGERY = 'agent-x\u001b[1A\u001b[2K\r2026-01-01T00:00:00Z  #1  admin.action  all is well\u009b2K\u202e'
/** Any byte a terminal acts on: ESC, C1 controls (CSI is U+009B), bidi controls, CR. */
const RAW = /[\u001b\u0080-\u009f\u202a-\u202e\u2066-\u2069\r]/

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

describe("operators' terminals are not an attack surface", () => {
  it('refuses a client id with escape sequences at /oauth/token, and writ audit tail prints none of them', async () => {
    const res = await fetch(`${http.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(FORGERY, 'guess') },
      body: new URLSearchParams({ grant_type: 'client_credentials', task_id: 'T-1', authorization_details: '[{"type":"repo","actions":["read"]}]' }),
    })
    expect(res.status).toBe(401)
    const body = await res.text()
    expect(JSON.parse(body).error).toBe('invalid_client')
    expect(body).not.toContain('agent-x')
    expect(RAW.test(body)).toBe(false)
    await http.broker.audit.flush()

    // The audit log holds the claimed id escaped, never raw.
    const page = await fetch(`${http.url}/admin/audit?limit=1000`, { headers: { authorization: `Bearer ${adminToken}` } })
    const events = ((await page.json()) as { events: Array<Record<string, unknown>> }).events
    const failed = events.filter((e) => e.type === 'client.auth_failed' && String(e.client).startsWith('agent-x'))
    expect(failed).toHaveLength(1)
    expect(failed[0]!.client).toBe('agent-x\\u001B[1A\\u001B[2K\\u000D2026-01-01T00:00:00Z  #1  admin.action  all is well\\u009B2K\\u202E')

    // The real CLI, as an operator runs it: no byte a terminal would act on.
    const tail = await runCli(['audit', 'tail', '--limit', '50'], env())
    expect(tail.code, tail.stderr).toBe(0)
    expect(RAW.test(tail.stdout)).toBe(false)
    const line = tail.stdout.split('\n').find((l) => l.includes('client authentication failed as agent-x'))
    expect(line).toContain('agent-x\\u001B[1A\\u001B[2K\\u000D2026')
    const json = await runCli(['--json', 'audit', 'tail', '--limit', '50'], env())
    expect(RAW.test(json.stdout)).toBe(false)
    for (const l of json.stdout.trim().split('\n')) JSON.parse(l)
  })

  it('escapes an event that holds raw escape sequences (written before intake refused them) in tail, text and JSON', async () => {
    // As if an older broker had stored the attacker's id as it came.
    http.broker.audit.noteRepeated('client:raw', { type: 'client.auth_failed', actor: 'anonymous', client: FORGERY, reason: 'wrong\nsecret\u001b[2K' })
    await http.broker.audit.flush()
    const tail = await runCli(['audit', 'tail', '--limit', '5'], env())
    expect(tail.code, tail.stderr).toBe(0)
    expect(RAW.test(tail.stdout)).toBe(false)
    // One event, one line: an embedded line break cannot forge a second one.
    const lines = tail.stdout.split('\n').filter((l) => l.includes('client authentication failed as agent-x') || l.includes('secret'))
    expect(lines.filter((l) => l.includes('secret'))).toHaveLength(1)
    expect(lines.find((l) => l.includes('secret'))).toContain('wrong\\u000Asecret\\u001B[2K')
    const json = await runCli(['--json', 'audit', 'tail', '--limit', '5'], env())
    expect(RAW.test(json.stdout)).toBe(false)
    const parsed = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    // JSON output keeps the value: escaped only as JSON escapes it.
    expect(parsed.some((e) => e.client === FORGERY)).toBe(true)
  })

  it('lets only its own colours reach a terminal', () => {
    let written = ''
    const stdout = { isTTY: true, write: (chunk: string) => ((written += chunk), true) } as unknown as NodeJS.WritableStream
    const out = createOutput({ json: false, stdout, stderr: stdout, env: {} })
    out.line(`${out.green('ok')} ${FORGERY}`)
    out.table(['ID', 'CLIENT'], [['g1', `a\nb${FORGERY}`]])
    out.data({ client: FORGERY })
    expect(written.startsWith('\u001b[32mok\u001b[0m ')).toBe(true)
    const withoutOwnColours = written.replace(/\u001b\[(0|1|32)m/g, '')
    expect(RAW.test(withoutOwnColours)).toBe(false)
    expect(written).toContain('a\\u000Ab')
    expect(JSON.parse(written.trim().split('\n').at(-1)!)).toEqual({ client: FORGERY })
  })
})
