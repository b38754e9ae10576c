import {
  A,
  ADMIN_TOKEN,
  B,
  ceremonyOptions,
  deployManifest,
  enrolCast,
  form,
  json,
  poll,
  requestApproval,
  SECRETS,
  submit,
  type ApprovalBroker,
  type CallInit,
} from '../approvals/helpers.js'
import type { TestResponse } from '../helpers/broker.js'

export const METRICS_TOKEN = 'metrics-scrape-token-7d1f0c9a2b4e6f8a1c3e5d7b'

const docs = (task: string) => ({
  task: { id: task, purpose: 'Tidy the docs', requested_by: 'carol@example.com' },
  ttl: '10m',
  grants: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }],
})

/** What the scripted workload did, for the tests to check the counters and the logs against. */
export interface WorkloadResult {
  /** Every secret a request or response of the workload carried: none may reach a log line. */
  secrets: Set<string>
}

/**
 * Records every secret of each call: credentials in the Authorization header, tokens, auth_req_ids
 * and assertion signatures in bodies, invite URLs.
 */
export function recordingCalls(broker: ApprovalBroker, secrets: Set<string>): ApprovalBroker['call'] {
  const take = (value: unknown, key = ''): void => {
    if (typeof value === 'string') {
      if (/^(access_token|auth_req_id|signature|enroll_url|invite_url|url|token)$/.test(key) && value.length >= 8) {
        secrets.add(value)
        // The secret half of an auth_req_id and the last segment of an invite URL on their own.
        if (key === 'auth_req_id') secrets.add(value.split('.')[1]!)
        if (/\/enroll\//.test(value)) secrets.add(value.split('/').at(-1)!)
      }
      return
    }
    if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) take(v, k)
  }
  return async (method: string, path: string, init: CallInit = {}): Promise<TestResponse> => {
    if (init.bearer) secrets.add(init.bearer)
    if (init.basic) secrets.add(init.basic[1])
    if (typeof init.body === 'string' && init.body.startsWith('{')) take(JSON.parse(init.body))
    const res = await broker.call(method, path, init)
    if ((res.headers.get('content-type') ?? '').includes('json')) take(await res.clone().json())
    return res
  }
}

/**
 * The scripted workload: two tokens issued (one per token route), one refused by policy, an
 * approval approved and collected (one pending poll first), an approval denied and its poll
 * refused, and one revocation by task that takes out two grants.
 */
export async function runWorkload(broker: ApprovalBroker): Promise<WorkloadResult> {
  const secrets = new Set<string>([SECRETS['agent-a'], SECRETS['agent-b'], ADMIN_TOKEN, METRICS_TOKEN])
  const call = recordingCalls(broker, secrets)
  const cast = await enrolCast({ ...broker, call })

  // Issued: /v1/tokens and /oauth/token, both for task DOCS-1.
  const issued = await call('POST', '/v1/tokens', { ...json(docs('DOCS-1')), basic: A })
  if (issued.status !== 200) throw new Error(`issue: ${issued.status}`)
  const cc = await call('POST', '/oauth/token', {
    ...form({
      grant_type: 'client_credentials',
      task_id: 'DOCS-1',
      authorization_details: JSON.stringify(docs('DOCS-1').grants),
    }),
    basic: B,
  })
  if (cc.status !== 200) throw new Error(`client_credentials: ${cc.status} ${await cc.text()}`)

  // Denied by policy: agent-b may not migrate databases.
  const denied = await call('POST', '/v1/tokens', {
    ...json({ task: { id: 'DB-1' }, grants: [{ type: 'db', actions: ['migrate'], locations: ['https://db.example.com/orders'] }] }),
    basic: B,
  })
  if (denied.status !== 403) throw new Error(`deny: ${denied.status} ${await denied.text()}`)

  // Approved: pending (202), one poll too early, alice approves, the poll collects the token.
  const approved = await requestApproval({ ...broker, call }, A, deployManifest())
  secrets.add(approved.auth_req_id)
  const early = await poll({ ...broker, call }, A, approved.auth_req_id)
  if (early.status !== 400) throw new Error(`early poll: ${early.status}`)
  const approveOptions = await ceremonyOptions({ ...broker, call }, approved.id, 'approve')
  const assertion = cast.alice.assert(approveOptions)
  const vote = await submit({ ...broker, call }, approved.id, 'approve', assertion)
  if (vote.status !== 200) throw new Error(`approve: ${vote.status} ${await vote.text()}`)
  broker.clock.advance(5000)
  const collected = await poll({ ...broker, call }, A, approved.auth_req_id)
  if (collected.status !== 200) throw new Error(`collect: ${collected.status} ${await collected.text()}`)

  // Denied by a person: bob denies agent-b's request; its poll is refused.
  const refused = await requestApproval({ ...broker, call }, B, deployManifest({ task: { id: 'REL-9', requested_by: 'carol@example.com' } }))
  const denyOptions = await ceremonyOptions({ ...broker, call }, refused.id, 'deny')
  const no = await submit({ ...broker, call }, refused.id, 'deny', cast.bob.assert(denyOptions))
  if (no.status !== 200) throw new Error(`deny vote: ${no.status}`)
  broker.clock.advance(5000)
  const refusedPoll = await poll({ ...broker, call }, B, refused.auth_req_id)
  if (refusedPoll.status !== 400) throw new Error(`refused poll: ${refusedPoll.status}`)

  // Revoked: task DOCS-1's two grants, in one revocation.
  const revoked = await call('POST', '/admin/revocations', {
    ...json({ task_id: 'DOCS-1', reason: 'task done' }),
    bearer: ADMIN_TOKEN,
  })
  const body = await revoked.json()
  if (revoked.status !== 200 || body.revoked !== 2) throw new Error(`revoke: ${revoked.status} ${JSON.stringify(body)}`)
  await broker.audit.flush()
  return { secrets }
}
