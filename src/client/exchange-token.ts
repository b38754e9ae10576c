import { clientAuthentication } from './client-authentication.js'
import { createDpopProof, type DpopKeyPair } from './dpop.js'
import { WritClientError } from './errors.js'
import type { ClientCredentials, ManifestInput, TokenResult } from './request-token.js'
import { errorFrom, readJson, tokenResult } from './responses.js'

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

export interface ExchangeTokenOptions {
  /** The broker's base URL (its issuer), e.g. `https://writ.example.com`. */
  broker: string | URL
  /** The receiving client (the sub-agent): the parent's client must list it in `delegate_to`. */
  credentials: ClientCredentials
  /** The parent token, handed over by the agent that holds it. */
  subjectToken: string
  /** The grants wanted, each covered by one of the parent token's. */
  grants: ManifestInput['grants']
  /** Requested life (`90s`, `5m`, or seconds); never longer than the parent has left. */
  ttl?: string | number
  /** Bind the new token to the receiving client's own key (RFC 9449). */
  dpopKey?: DpopKeyPair
  /**
   * The parent token's DPoP key, when the parent is DPoP-bound: signs `subject_token_dpop`, a
   * proof for this exchange bound to the parent token. The agent holding the parent may instead
   * make that proof itself and pass it as `subjectTokenProof`.
   */
  subjectDpopKey?: DpopKeyPair
  /** A ready `subject_token_dpop` proof, made by the parent's holder (see `subjectDpopKey`). */
  subjectTokenProof?: string
  signal?: AbortSignal
  /** Injected for tests and custom transports. */
  fetch?: typeof fetch
  /** Injected for tests: milliseconds since the epoch. */
  now?: () => number
}

/** The delegated token, with the parent grant it came from. */
export interface ExchangeTokenResult extends TokenResult {
  parentGrantId: string
}


/**
 * Delegation (RFC 8693 token exchange): turns a parent writ token into a narrower one for this
 * client (a sub-agent). The broker refuses anything the parent does not cover, a life longer than
 * the parent has left, a chain deeper than the policy allows, and a receiver the parent's client
 * may not delegate to; errors are {@link WritClientError}s with the broker's code
 * (`invalid_authorization_details`, `invalid_request`, `unauthorized_client`, ...).
 *
 * @example
 * const child = await exchangeToken({
 *   broker: 'http://localhost:8080',
 *   credentials: { clientId: 'docs-worker', clientSecret: process.env.WRIT_CLIENT_SECRET! },
 *   subjectToken: parentToken,
 *   grants: [{ type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/guide/*' }],
 *   ttl: '5m',
 * })
 */
export async function exchangeToken(options: ExchangeTokenOptions): Promise<ExchangeTokenResult> {
  const base = String(options.broker).replace(/\/+$/, '')
  const url = `${base}/oauth/token`
  const doFetch = options.fetch ?? fetch
  const now = options.now ?? Date.now
  const { credentials, signal } = options
  let nonce: string | undefined

  for (let attempt = 0; ; attempt++) {
    const params: Record<string, string> = {
      grant_type: TOKEN_EXCHANGE,
      subject_token: options.subjectToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
      authorization_details: JSON.stringify(options.grants),
    }
    const auth = await clientAuthentication(base, credentials, now())
    Object.assign(params, auth.params)
    if (options.ttl !== undefined) params.ttl = String(options.ttl)
    const proofFor = (key: DpopKeyPair, accessToken?: string) =>
      createDpopProof(key, { method: 'POST', url, now: now(), ...(nonce ? { nonce } : {}), ...(accessToken ? { accessToken } : {}) })
    if (options.subjectTokenProof !== undefined) params.subject_token_dpop = options.subjectTokenProof
    else if (options.subjectDpopKey) params.subject_token_dpop = await proofFor(options.subjectDpopKey, options.subjectToken)
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      ...auth.headers,
    }
    if (options.dpopKey) headers.dpop = await proofFor(options.dpopKey)
    let res: Response
    try {
      res = await doFetch(url, { method: 'POST', headers, body: new URLSearchParams(params).toString(), ...(signal ? { signal } : {}) })
    } catch (cause) {
      if (signal?.aborted) throw new WritClientError('aborted', 'aborted', undefined, { cause })
      throw new WritClientError('network_error', `cannot reach the broker at ${base}: ${(cause as Error).message}`, undefined, { cause })
    }
    const body = await readJson(res)
    // RFC 9449 §8: the server wants a nonce in the proofs; retry once with it (own proofs only).
    const asked = res.headers.get('dpop-nonce')
    const ownProofs = options.dpopKey !== undefined || options.subjectDpopKey !== undefined
    if (res.status === 400 && body.error === 'use_dpop_nonce' && asked && ownProofs && attempt === 0) {
      nonce = asked
      continue
    }
    if (res.status !== 200) throw errorFrom(res, body)
    return { ...tokenResult(body), parentGrantId: String(body.parent_grant_id ?? '') }
  }
}
