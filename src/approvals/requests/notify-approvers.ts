import { createHmac, randomUUID } from 'node:crypto'
import { type Clock, epochSeconds } from '../../clock.js'
import type { Logger } from '../../logger.js'
import type { ApprovalRequest } from '../types.js'
import { slackMessage } from './slack-message.js'

/**
 * Where one approver group's notices go: writ's JSON signed with the HMAC-SHA256 key both sides
 * share (`signed`, the default), or a Slack incoming-webhook message (`slack`).
 */
export type WebhookTarget =
  | { format?: 'signed'; url: string; secret: string }
  | { format: 'slack'; url: string }

/** Announces new approval requests to the approver groups they need. */
export interface ApprovalNotifier {
  /**
   * Sends one notice per webhook of each approver group the request needs.
   * Never rejects; resolves when every delivery has succeeded or given up. Callers do not await
   * it: a slow or dead webhook never delays an agent's request.
   */
  notify(request: ApprovalRequest): Promise<void>
  /** Stops retries and in-flight deliveries; later notices are dropped. */
  close(): void
}

export interface ApprovalNotifierOptions {
  /**
   * Webhooks per approver group id, under the policy in force (read once per notice). Groups
   * without any are not notified.
   */
  targets: () => ReadonlyMap<string, readonly WebhookTarget[]>
  /** Base of the approval URL (the issuer). */
  baseUrl: string
  /** Injected HTTP client (the platform `fetch` in production). */
  fetch: typeof fetch
  clock: Clock
  logger: Logger
  /** Waits between attempts; resolves early when `signal` aborts. Default: a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** Attempts per delivery, the first included. Default 6. */
  maxAttempts?: number
  /** Delay before the first retry; doubles each time. Default 1000. */
  initialBackoffMs?: number
  /** Longest delay between attempts. Default 60000. */
  maxBackoffMs?: number
  /** Longest wait for one attempt. Default 5000. */
  timeoutMs?: number
}

/** The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'Writ-Signature'

/**
 * The webhook signature: hex HMAC-SHA256 with the group's secret over `<t>.<body>`, where `t` is
 * the sending time in seconds (receivers reject old timestamps, so a captured notice cannot be
 * replayed later) and `body` the exact bytes sent.
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')
}

const defaultSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    timer.unref()
    signal.addEventListener('abort', done, { once: true })
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })

/**
 * Creates the webhook notifier. Each notice is a JSON POST:
 *
 * ```json
 * { "type": "writ.approval_request", "delivery_id": "…", "group": "release-managers",
 *   "approval_id": "…", "approval_uri": "https://writ.example.com/approve/…",
 *   "client_id": "deploy-bot", "task": { "id": "…", "purpose": "…", "requested_by": "…" },
 *   "grants": [ …authorization_details… ], "resources"?: [ …RFC 8707… ], "scopes"?: [ … ],
 *   "ttl_seconds": 600,
 *   "expires_at": "2026-01-01T00:05:00.000Z", "approvers_needed": 1 }
 * ```
 *
 * signed in the `Writ-Signature` header (see {@link webhookSignature}). A `slack` target gets a
 * Slack incoming-webhook message instead (`{text, blocks}`, see `slackMessage`), unsigned: Slack
 * checks no signature, its webhook URL is the secret. A delivery that fails
 * (network error, timeout, redirect, any non-2xx answer) is retried with exponential backoff up to
 * `maxAttempts` times; every attempt carries the same body and `delivery_id`, so receivers can
 * drop duplicates, and is signed afresh with the time it is sent.
 */
export function createApprovalNotifier(options: ApprovalNotifierOptions): ApprovalNotifier {
  const sleep = options.sleep ?? defaultSleep
  const maxAttempts = options.maxAttempts ?? 6
  const initialBackoffMs = options.initialBackoffMs ?? 1000
  const maxBackoffMs = options.maxBackoffMs ?? 60_000
  const timeoutMs = options.timeoutMs ?? 5000
  const stop = new AbortController()

  const deliver = async (group: string, target: WebhookTarget, body: string, deliveryId: string): Promise<void> => {
    for (let attempt = 1; attempt <= maxAttempts && !stop.signal.aborted; attempt++) {
      const timestamp = epochSeconds(options.clock)
      let outcome: string
      try {
        const res = await options.fetch(target.url, {
          method: 'POST',
          body,
          redirect: 'manual',
          headers: {
            'Content-Type': 'application/json',
            'User-Agent': 'writ-webhook',
            ...(target.format === 'slack'
              ? {}
              : {
                  'Writ-Event': 'approval_request',
                  'Writ-Delivery': deliveryId,
                  [SIGNATURE_HEADER]: `t=${timestamp},v1=${webhookSignature(target.secret, timestamp, body)}`,
                }),
          },
          signal: AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)]),
        })
        await res.body?.cancel().catch(() => undefined)
        if (res.status >= 200 && res.status < 300) {
          options.logger.info('approval webhook delivered', { group, deliveryId, attempt })
          return
        }
        outcome = `HTTP ${res.status}`
      } catch (err) {
        outcome = err instanceof Error ? err.message : String(err)
      }
      if (attempt === maxAttempts || stop.signal.aborted) {
        options.logger.warn('approval webhook failed; giving up', { group, deliveryId, attempt, outcome })
        return
      }
      const delay = Math.min(initialBackoffMs * 2 ** (attempt - 1), maxBackoffMs)
      options.logger.debug('approval webhook failed; retrying', { group, deliveryId, attempt, outcome, delay })
      await sleep(delay, stop.signal)
    }
  }

  return {
    async notify(request: ApprovalRequest): Promise<void> {
      if (stop.signal.aborted) return
      const groups = [...new Set(request.requirements.map((r) => r.from))]
      const deliveries: Promise<void>[] = []
      const byGroup = options.targets()
      for (const group of groups) {
        const targets = byGroup.get(group) ?? []
        if (targets.length === 0) continue
        const needed = request.requirements
          .filter((r) => r.from === group)
          .reduce((max, r) => Math.max(max, r.approvers), 0)
        const approvalUri = `${options.baseUrl}/approve/${request.id}`
        for (const target of targets) {
          const deliveryId = randomUUID()
          const body =
            target.format === 'slack'
              ? JSON.stringify(slackMessage({ request, group, approversNeeded: needed, approvalUri }))
              : JSON.stringify({
                  type: 'writ.approval_request',
                  delivery_id: deliveryId,
                  group,
                  approval_id: request.id,
                  approval_uri: approvalUri,
                  client_id: request.clientId,
                  task: request.manifest.task,
                  grants: request.manifest.grants,
                  ...(request.manifest.resources ? { resources: request.manifest.resources } : {}),
                  ...(request.manifest.scopes ? { scopes: request.manifest.scopes } : {}),
                  ttl_seconds: request.ttlSeconds,
                  expires_at: new Date(request.expiresAt * 1000).toISOString(),
                  approvers_needed: needed,
                })
          deliveries.push(deliver(group, target, body, deliveryId).catch(() => undefined))
        }
      }
      await Promise.all(deliveries)
    },
    close(): void {
      stop.abort()
    },
  }
}
