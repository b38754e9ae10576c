import { randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyApprovalEvidence } from '../../src/approvals/evidence/verify-approval-evidence.js'
import { manifestSha256 } from '../../src/manifest/index.js'
import {
  ceremonyOptions,
  enrol,
  makeApprovalBroker,
  submit,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { MCP_SECRET, MCP_URL, OTHER_MCP_URL, mcpPolicyText } from '../helpers/mcp-policy.js'
import { deleteKeysWithPrefix } from '../helpers/redis.js'
import { eventually } from '../helpers/eventually.js'

/*
 * The approval binds the resource: approvers see the audience and the MCP tool in plain words,
 * the manifest hash they sign covers the resource, and the token can be collected only for the
 * resource that was approved. Real Redis: the stored request must keep its resources.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const PREFIX = `writ-test-resource-binding-${randomBytes(4).toString('hex')}:`
const AGENT: [string, string] = ['mcp-agent', MCP_SECRET]

let broker: ApprovalBroker
let alice: SoftAuthenticator

beforeAll(async () => {
  broker = await makeApprovalBroker({
    policyText: await mcpPolicyText({ webhook: true }),
    config: {
      store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: PREFIX },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
  alice = broker.authenticator()
  await enrol(broker, alice, 'alice@example.com', 'release-managers')
})
afterAll(async () => {
  await broker?.close()
  const { default: Redis } = await import('ioredis')
  const redis = new Redis(REDIS_URL)
  await deleteKeysWithPrefix(redis, PREFIX)
  await redis.quit()
})

const deployProd = { type: 'mcp', actions: ['tools/call'], locations: [MCP_URL], identifier: 'deploy_prod' }

/** Starts a CIBA request for deploy_prod on the MCP server with these extra form parameters. */
async function start(params: Record<string, string>, resources: string[]) {
  const body = new URLSearchParams({ task_id: 'REL-7', task_purpose: 'Ship 7.0', ...params })
  for (const r of resources) body.append('resource', r)
  const res = await broker.call('POST', '/oauth/bc-authorize', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
    basic: AGENT,
  })
  expect(res.status).toBe(200)
  const { auth_req_id } = await res.json()
  return { authReqId: auth_req_id as string, id: (auth_req_id as string).split('.')[0]! }
}

async function approve(id: string) {
  const res = await submit(broker, id, 'approve', alice.assert(await ceremonyOptions(broker, id, 'approve')))
  expect(res.status).toBe(200)
}

function collect(authReqId: string, resources: string[] = []) {
  const body = new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: authReqId })
  for (const r of resources) body.append('resource', r)
  return broker.call('POST', '/oauth/token', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
    basic: AGENT,
  })
}

describe('an approval binds the resource', () => {
  it('shows the tool, the server and the audience plainly on the approval page', async () => {
    const { id } = await start({ authorization_details: JSON.stringify([deployProd]) }, [MCP_URL])
    const page = await (await broker.call('GET', `/approve/${id}`)).text()
    const text = page.replace(/<[^>]+>/g, '')
    expect(text).toContain(`Call tool deploy_prod on ${MCP_URL}`)
    expect(text).toMatch(new RegExp(`Token for\\s*${MCP_URL.replace(/[.]/g, '\\.')}`))
  })

  it('tells the approvers’ webhook the resources and scopes', async () => {
    const { id } = await start({ scope: 'mcp:deploy' }, [MCP_URL])
    const notices = () =>
      broker.webhooks.map((w) => JSON.parse(String(w.init.body)) as { approval_id: string; resources?: string[]; scopes?: string[] })
    await eventually('the webhook is sent', () => notices().some((n) => n.approval_id === id))
    const notice = notices().find((n) => n.approval_id === id)
    expect(notice).toMatchObject({ resources: [MCP_URL], scopes: ['mcp:deploy'] })
  })

  it('marks a look-alike character in the tool name of the sentence', async () => {
    // Cyrillic о (U+043E): deploy_prod with it is another tool, and the page must say so.
    const lookalike = { ...deployProd, identifier: 'deploy_pr\u043ed' }
    const { id } = await start({ authorization_details: JSON.stringify([lookalike]) }, [MCP_URL])
    const page = await (await broker.call('GET', `/approve/${id}`)).text()
    expect(page).toContain(
      `<li class="mcp-action">Call tool <code>deploy_pr<mark class="uni" title="U+043E">\u043e<sup>U+043E</sup></mark>d</code> on <code>${MCP_URL}</code></li>`,
    )
  })

  it('shows a scope’s tool glob as tools matching it, with the scope named', async () => {
    const { id } = await start({ scope: 'mcp:deploy' }, [MCP_URL])
    const text = (await (await broker.call('GET', `/approve/${id}`)).text()).replace(/<[^>]+>/g, '')
    expect(text).toContain(`Call tools matching deploy_* on ${MCP_URL}`)
    expect(text).toMatch(/Scopes asked\s*mcp:deploy/)
  })

  it('refuses to collect an approved request for another resource, then issues it for the approved one', async () => {
    const { authReqId, id } = await start({ authorization_details: JSON.stringify([deployProd]) }, [MCP_URL])
    await approve(id)
    broker.clock.advance(6000)

    const other = await collect(authReqId, [OTHER_MCP_URL])
    expect(other.status).toBe(400)
    expect(await other.json()).toMatchObject({
      error: 'invalid_target',
      error_description: expect.stringContaining(`resource: ${OTHER_MCP_URL} is not what this request was made for`),
    })
    const more = await collect(authReqId, [MCP_URL, OTHER_MCP_URL])
    expect((await more.json()).error).toBe('invalid_target')

    // The refusals used nothing up: the approved resource still collects, exactly once.
    const res = await collect(authReqId, [MCP_URL])
    expect(res.status).toBe(200)
    const claims = decodeJwt((await res.json()).access_token)
    expect(claims).toMatchObject({ aud: MCP_URL, authorization_details: [deployProd] })
    expect((await collect(authReqId)).status).toBe(400)
  })

  it('a request made without resource cannot be collected with one', async () => {
    const { authReqId, id } = await start({ authorization_details: JSON.stringify([deployProd]) }, [])
    await approve(id)
    broker.clock.advance(6000)
    const res = await collect(authReqId, [MCP_URL])
    expect(res.status).toBe(400)
    expect((await res.json()).error).toBe('invalid_target')
    const ok = await collect(authReqId)
    expect(ok.status).toBe(200)
  })

  it('refuses scope or authorization_details sent at collection', async () => {
    const { authReqId } = await start({ scope: 'mcp:deploy' }, [MCP_URL])
    const body = new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: authReqId, scope: 'mcp:github:read' })
    const res = await broker.call('POST', '/oauth/token', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      basic: AGENT,
    })
    expect(res.status).toBe(400)
    expect((await res.json()).error_description).toMatch(/^scope: not used when collecting a token/)
  })

  it('signs a manifest hash that covers the resource, and the kept evidence re-verifies', async () => {
    const { authReqId, id } = await start({ scope: 'mcp:deploy' }, [MCP_URL])
    await approve(id)
    broker.clock.advance(6000)
    const res = await collect(authReqId)
    expect(res.status).toBe(200)
    const claims = decodeJwt((await res.json()).access_token) as { approval: { manifest_sha256: string }; scope: string }
    expect(claims.scope).toBe('mcp:deploy')

    const evidence = (await broker.approvals.getEvidence(id))!
    expect(evidence.manifest.resources).toEqual([MCP_URL])
    expect(evidence.manifest.scopes).toEqual(['mcp:deploy'])
    expect(evidence.manifestSha256).toBe(claims.approval.manifest_sha256)
    expect((await verifyApprovalEvidence(evidence)).ok).toBe(true)

    // The same grants for another audience are another manifest: the signature does not carry over.
    const moved = { ...evidence, manifest: { ...evidence.manifest, resources: [OTHER_MCP_URL] } }
    expect(manifestSha256(moved.manifest)).not.toBe(evidence.manifestSha256)
    const result = await verifyApprovalEvidence(moved)
    expect(result.ok).toBe(false)
  })
})

