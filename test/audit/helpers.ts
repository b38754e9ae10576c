import { createBroker, type Broker } from '../../src/broker.js'
import type { AuditLog } from '../../src/audit/audit-log.js'
import type { AuditEventInput } from '../../src/audit/types.js'
import { type Clock, manualClock } from '../../src/clock.js'
import { parseConfig, type ConfigInput } from '../../src/config.js'
import type { Store } from '../../src/open-store.js'
import { silentLogger, type Logger } from '../../src/logger.js'
import { createKeyManager, type KeyManager } from '../../src/tokens/index.js'
import { ISSUER, testPolicyText, type TestResponse } from '../helpers/broker.js'
import { checkResponse } from '../helpers/openapi.js'

/** A key manager with a generated ES256 key: what signs checkpoints in a broker. */
export async function testKeys(clock: Clock = manualClock(Date.now())): Promise<KeyManager> {
  const keys = createKeyManager({
    alg: 'ES256',
    source: 'generate',
    rotationSeconds: 7 * 24 * 3600,
    maxTokenTtlSeconds: 3600,
    clock,
  })
  await keys.init()
  return keys
}

let counter = 0

/** A mix of the events a broker writes, each about its own grant and task. */
export function sampleEvents(n: number): AuditEventInput[] {
  const out: AuditEventInput[] = []
  for (let i = 0; i < n; i++) {
    const id = `g-${++counter}`
    switch (i % 4) {
      case 0:
        out.push({
          type: 'grant.issued',
          actor: 'client:agent-a',
          client: 'agent-a',
          grant: id,
          task: `T-${i % 3}`,
          manifest_sha256: 'a'.repeat(64),
          rules: ['docs-read'],
          authorization_details: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' }],
          issued_at: 1_800_000_000,
          expires_at: 1_800_000_900,
        })
        break
      case 1:
        out.push({ type: 'token.denied', actor: 'client:agent-b', client: 'agent-b', task: `T-${i % 3}`, reason: 'access_denied', message: 'grants[0] is not allowed' })
        break
      case 2:
        out.push({ type: 'grant.revoked', actor: 'admin', scope: 'grant', grant: id, reason: 'done', count: 1 })
        break
      default:
        out.push({ type: 'admin.action', actor: 'admin', method: 'POST', path: '/admin/revocations', status: 200 })
    }
  }
  return out
}

export interface AuditTestBroker extends Broker {
  clock: ReturnType<typeof manualClock>
  call(method: string, path: string, init?: RequestInit & { basic?: [string, string]; bearer?: string }): Promise<TestResponse>
}

/**
 * A broker like `makeTestBroker`'s (test policy, manual clock, every response checked against
 * openapi.yaml), which can also be given its audit log and a stdout for the audit mirror.
 */
export async function makeAuditBroker(
  options: {
    config?: ConfigInput
    store?: Store
    auditLog?: AuditLog
    stdout?: (line: string) => void
    logger?: Logger
    /** agent-a's live-grant quota. */
    maxLiveGrants?: number
  } = {},
): Promise<AuditTestBroker> {
  const clock = manualClock(Date.now())
  const config = parseConfig({
    issuer: ISSUER,
    devMode: true,
    ...options.config,
    admin: { bootstrap: false, ...options.config?.admin },
  })
  const broker = await createBroker(config, {
    logger: options.logger ?? silentLogger,
    clock,
    policyText: (await testPolicyText(options.maxLiveGrants === undefined ? {} : { maxLiveGrants: options.maxLiveGrants })),
    ...(options.store ? { store: options.store } : {}),
    ...(options.auditLog ? { auditLog: options.auditLog } : {}),
    ...(options.stdout ? { stdout: options.stdout } : {}),
  })
  return {
    ...broker,
    clock,
    async call(method, path, init = {}) {
      const { basic, bearer, ...rest } = init
      const headers = new Headers(rest.headers)
      if (basic) {
        const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
        headers.set('authorization', `Basic ${Buffer.from(`${enc(basic[0])}:${enc(basic[1])}`).toString('base64')}`)
      }
      if (bearer) headers.set('authorization', `Bearer ${bearer}`)
      const res = await broker.app.request(`${ISSUER}${path}`, { ...rest, method, headers })
      await checkResponse(method, path, res)
      return res
    },
  }
}
