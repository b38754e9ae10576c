import { createHmac } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  A,
  approvalPolicyText,
  deployManifest,
  enrol,
  makeApprovalBroker,
  requestApproval,
  WEBHOOK_SECRET,
  type ApprovalBroker,
} from '../approvals/helpers.js'

/*
 * Notices to a Slack incoming webhook and to the signed webhook, received by a local HTTP server:
 * the broker posts with the platform fetch over a real socket.
 */

interface Received {
  path: string
  headers: IncomingHttpHeaders
  body: string
}

let receiver: Server
let receiverUrl: string
const received: Received[] = []
const waiters: Array<() => void> = []

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      // Slack answers `ok` with 200.
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
      for (const wake of waiters.splice(0)) wake()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())))

/** Waits until the receiver holds `n` notices about `approvalUri`. */
async function noticesFor(approvalUri: string, n: number): Promise<Received[]> {
  for (;;) {
    const found = received.filter((r) => r.body.includes(approvalUri))
    if (found.length >= n) return found
    await new Promise<void>((resolve) => waiters.push(resolve))
  }
}

async function policyWithWebhooks(webhooks: string): Promise<string> {
  const text = await approvalPolicyText()
  const signed = '    webhook: { url: "https://hooks.example.com/writ", secret_env: WRIT_TEST_WEBHOOK_SECRET }'
  expect(text).toContain(signed)
  return text.replace(signed, webhooks)
}

describe('Slack notifications', () => {
  let broker: ApprovalBroker
  beforeAll(async () => {
    broker = await makeApprovalBroker({
      fetch: globalThis.fetch,
      env: { WRIT_SLACK_WEBHOOK_URL: `${receiverUrl}/services/T000/B000/slack-secret` },
      policyText: await policyWithWebhooks(`    webhook:
      - { url: "${receiverUrl}/signed", secret_env: WRIT_TEST_WEBHOOK_SECRET }
      - { format: slack, url_env: WRIT_SLACK_WEBHOOK_URL }`),
    })
    await enrol(broker, broker.authenticator(), 'alice@example.com', 'release-managers')
  })
  afterAll(() => broker.close())

  it('posts a Slack incoming-webhook message with the summary and the approval link, beside the signed webhook', async () => {
    const pending = await requestApproval(broker, A, deployManifest())
    const notices = await noticesFor(pending.approval_uri, 2)
    const slack = notices.find((n) => n.path === '/services/T000/B000/slack-secret')!
    const signed = notices.find((n) => n.path === '/signed')!
    expect(slack).toBeDefined()
    expect(signed).toBeDefined()

    // Slack: JSON with text + blocks, unsigned.
    expect(slack.headers['content-type']).toBe('application/json')
    expect(slack.headers['writ-signature']).toBeUndefined()
    const message = JSON.parse(slack.body)
    expect(Object.keys(message).sort()).toEqual(['blocks', 'text'])
    expect(message.text).toBe(
      `Approval needed: agent-a asks for 1 grant for task REL-42. Review and decide: ${pending.approval_uri}`,
    )
    const expires = new Date((Math.floor(broker.clock() / 1000) + 300) * 1000).toISOString()
    expect(message.blocks).toEqual([
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: [
            '*Approval needed* from release-managers (1 approver)',
            '*Client:* agent-a',
            '*Task:* REL-42 — Deploy release 4.2 to production',
            '*Requested by:* carol@example.com',
            '*Grants:*',
            '• deploy · create · https://deploy.example.com/acme/app',
            `*Expires:* ${expires}`,
          ].join('\n'),
        },
      },
      {
        type: 'actions',
        elements: [
          { type: 'button', text: { type: 'plain_text', text: 'Review and decide' }, url: pending.approval_uri, style: 'primary' },
        ],
      },
    ])

    // The signed webhook is as it was: writ's JSON, HMAC-signed.
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(signed.headers['writ-signature']))!
    expect(createHmac('sha256', WEBHOOK_SECRET).update(`${t}.${signed.body}`).digest('hex')).toBe(v1)
    expect(JSON.parse(signed.body)).toMatchObject({ type: 'writ.approval_request', approval_uri: pending.approval_uri })
  })

  it('escapes request data so it cannot become a Slack link or mention', async () => {
    const pending = await requestApproval(
      broker,
      A,
      deployManifest({
        task: { id: 'REL-43', purpose: 'ping <!channel> & <https://evil.example|click here>', requested_by: 'carol@example.com' },
      }),
    )
    const [slack] = (await noticesFor(pending.approval_uri, 2)).filter((n) => n.path.startsWith('/services/'))
    const section = JSON.parse(slack!.body).blocks[0].text.text as string
    expect(section).toContain('ping &lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;')
    expect(section).not.toContain('<!channel>')
    expect(section).not.toContain('<https://evil.example')
  })
})

describe('Slack webhook configuration', () => {
  it('refuses to boot when url_env is unset or holds a URL that is not https (http only for localhost)', async () => {
    const policyText = await policyWithWebhooks('    webhook: { format: slack, url_env: WRIT_SLACK_WEBHOOK_URL }')
    await expect(makeApprovalBroker({ policyText })).rejects.toThrow(
      'approver_groups release-managers: webhook.url_env WRIT_SLACK_WEBHOOK_URL is not set in the environment',
    )
    await expect(
      makeApprovalBroker({ policyText, env: { WRIT_SLACK_WEBHOOK_URL: 'http://hooks.slack.example/services/x' } }),
    ).rejects.toThrow('webhook.url_env WRIT_SLACK_WEBHOOK_URL: expected an https URL (http only for localhost)')
  })
})
