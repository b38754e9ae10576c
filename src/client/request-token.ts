import type { CryptoKey } from 'jose'
import { basicAuthorization, clientAuthentication } from './client-authentication.js'
import { createDpopProof, type DpopKeyPair } from './dpop.js'
import { WritClientError } from './errors.js'
import { errorFrom, readJson, tokenResult as toResult } from './responses.js'

/** A task manifest as an agent writes it (docs/design.md): the task, an optional ttl, the grants. */
export interface ManifestInput {
  task: { id: string; purpose?: string; requested_by?: string }
  ttl?: string | number
  grants: Array<{ type: string; actions: string[]; locations?: string[]; identifier?: string; [k: string]: unknown }>
}

/** How the agent runtime authenticates as its registered client. */
export type ClientCredentials =
  | { clientId: string; clientSecret: string }
  | { clientId: string; privateKey: CryptoKey; keyId?: string; algorithm?: 'ES256' | 'EdDSA' | 'RS256' | 'PS256' }

/** Reported once when the request waits for a human: show `approvalUri` to whoever can approve. */
export interface PendingApproval {
  authReqId: string
  approvalUri?: string
  expiresIn: number
  interval: number
}

export interface TokenResult {
  accessToken: string
  tokenType: 'Bearer' | 'DPoP'
  expiresIn: number
  scope: string
  authorizationDetails: ManifestInput['grants']
  grantId: string
}

export interface RequestTokenOptions {
  /** The broker's base URL (its issuer), e.g. `https://writ.example.com`. */
  broker: string | URL
  credentials: ClientCredentials
  manifest: ManifestInput
  /** Bind the token to this key (RFC 9449): a stolen token is then useless without it. */
  dpopKey?: DpopKeyPair
  /** Called when the request needs a human approval, before polling starts. */
  onPending?: (pending: PendingApproval) => void
  /** Aborts waiting (and any request in flight) with code `aborted`. */
  signal?: AbortSignal
  /** Injected for tests and custom transports. */
  fetch?: typeof fetch
  /** Injected for tests: waits `ms` unless aborted. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  /** Injected for tests: milliseconds since the epoch. */
  now?: () => number
}

const CIBA_GRANT = 'urn:openid:params:grant-type:ciba'

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new WritClientError('aborted', 'aborted while waiting'))
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(new WritClientError('aborted', 'aborted while waiting for approval'))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })


/**
 * Exchanges a task manifest for a task-scoped token. When policy needs a human, reports the
 * approval through `onPending` and polls (CIBA) honouring `interval` and `slow_down` until the
 * token arrives, or throws a {@link WritClientError}: `access_denied` when an approver denied,
 * `expired_token` when the approval window closed, `aborted` when `signal` fired. Never waits
 * past the approval request's expiry.
 *
 * Client-secret clients use `POST /v1/tokens`; private-key clients (RFC 7523) use
 * `POST /oauth/bc-authorize` and collect at the token endpoint.
 *
 * @example
 * const token = await requestToken({
 *   broker: 'http://localhost:8080',
 *   credentials: { clientId: 'demo-agent', clientSecret: process.env.WRIT_CLIENT_SECRET! },
 *   manifest: { task: { id: 'JIRA-4711' }, ttl: '15m', grants: [
 *     { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
 *   ] },
 *   onPending: ({ approvalUri }) => console.log(`waiting for approval: ${approvalUri}`),
 * })
 */
export async function requestToken(options: RequestTokenOptions): Promise<TokenResult> {
  const base = String(options.broker).replace(/\/+$/, '')
  const doFetch = options.fetch ?? fetch
  const sleep = options.sleep ?? defaultSleep
  const now = options.now ?? Date.now
  const { credentials, signal } = options
  let nonce: string | undefined

  /** `body` as a function is built again for the nonce retry, so a client assertion is never replayed. */
  async function post(
    path: string,
    body: string | (() => Promise<string>),
    contentType: string,
    useBasic: boolean,
  ): Promise<Response> {
    const url = `${base}${path}`
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'content-type': contentType, accept: 'application/json' }
      if (useBasic && 'clientSecret' in credentials) headers.authorization = basicAuthorization(credentials)
      if (options.dpopKey) {
        headers.dpop = await createDpopProof(options.dpopKey, {
          method: 'POST',
          url,
          ...(nonce ? { nonce } : {}),
          now: now(),
        })
      }
      let res: Response
      try {
        const payload = typeof body === 'string' ? body : await body()
        res = await doFetch(url, { method: 'POST', headers, body: payload, ...(signal ? { signal } : {}) })
      } catch (cause) {
        if (signal?.aborted) throw new WritClientError('aborted', 'aborted', undefined, { cause })
        throw new WritClientError('network_error', `cannot reach the broker at ${base}: ${(cause as Error).message}`, undefined, { cause })
      }
      // RFC 9449 §8: the server wants a nonce in the proof; retry once with it.
      const asked = res.headers.get('dpop-nonce')
      if (options.dpopKey && asked && res.status === 400 && attempt === 0) {
        const err = (await res.clone().json().catch(() => ({}))) as { error?: string }
        if (err.error === 'use_dpop_nonce') {
          nonce = asked
          continue
        }
      }
      if (asked) nonce = asked
      return res
    }
  }

  async function assertion(): Promise<Record<string, string>> {
    if (!('privateKey' in credentials)) return {}
    return (await clientAuthentication(base, credentials, now())).params
  }

  const form = async (params: Record<string, string>) =>
    new URLSearchParams({ ...params, ...(await assertion()) }).toString()

  let pending: PendingApproval
  if ('clientSecret' in credentials) {
    const res = await post('/v1/tokens', JSON.stringify(options.manifest), 'application/json', true)
    const body = await readJson(res)
    if (res.status === 200) return toResult(body)
    if (res.status !== 202) throw errorFrom(res, body)
    pending = {
      authReqId: String(body.auth_req_id),
      ...(typeof body.approval_uri === 'string' ? { approvalUri: body.approval_uri } : {}),
      expiresIn: Number(body.expires_in),
      interval: Number(body.interval ?? 5),
    }
    options.onPending?.(pending)
  } else {
    const { task, ttl, grants } = options.manifest
    const params: Record<string, string> = { task_id: task.id, authorization_details: JSON.stringify(grants) }
    if (task.purpose !== undefined) params.task_purpose = task.purpose
    if (task.requested_by !== undefined) params.requested_by = task.requested_by
    if (ttl !== undefined) params.ttl = String(ttl)
    const res = await post('/oauth/bc-authorize', () => form(params), 'application/x-www-form-urlencoded', false)
    const body = await readJson(res)
    if (res.status !== 200) throw errorFrom(res, body)
    pending = {
      authReqId: String(body.auth_req_id),
      ...(typeof body.approval_uri === 'string' ? { approvalUri: body.approval_uri } : {}),
      expiresIn: Number(body.expires_in),
      interval: Number(body.interval ?? 5),
    }
    // An auto-approvable request is redeemable at once: the wait is reported only if the first
    // poll says a human is needed (approvers learn of it from the broker's notification).
  }
  let reported = 'clientSecret' in credentials

  const deadline = now() + pending.expiresIn * 1000
  let interval = Math.max(1, pending.interval)
  let first = !('clientSecret' in credentials)
  for (;;) {
    if (!first) await sleep(interval * 1000, signal)
    first = false
    const res = await post(
      '/oauth/token',
      () => form({ grant_type: CIBA_GRANT, auth_req_id: pending.authReqId }),
      'application/x-www-form-urlencoded',
      true,
    )
    const body = await readJson(res)
    if (res.status === 200) return toResult(body)
    const code = typeof body.error === 'string' ? body.error : ''
    if (code === 'authorization_pending' || code === 'slow_down') {
      if (!reported) {
        reported = true
        options.onPending?.(pending)
      }
      // CIBA §11: slow_down means add at least 5 seconds to the interval from now on.
      if (code === 'slow_down') interval += 5
      if (now() + interval * 1000 > deadline + 1000) {
        throw new WritClientError('expired_token', 'the approval request expired before anyone approved it', res.status)
      }
      continue
    }
    throw errorFrom(res, body)
  }
}
