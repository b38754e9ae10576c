import { createDpopProof, type DpopKeyPair } from './dpop.js'

export interface FetchWithTokenOptions {
  accessToken: string
  /** For a DPoP-bound token (RFC 9449): every call carries a fresh proof with `ath`. */
  dpopKey?: DpopKeyPair
  fetch?: typeof fetch
}

/**
 * `fetch` for a downstream service with a writ token: `Authorization: Bearer` or, for a bound
 * token, `Authorization: DPoP` plus a proof for this method and URL. Retries once when the
 * service asks for a DPoP nonce (RFC 9449 §9).
 *
 * @example
 * const res = await fetchWithToken('https://git.example.com/acme/app/docs/README.md', {},
 *   { accessToken: token.accessToken, dpopKey })
 */
export async function fetchWithToken(
  input: string | URL,
  init: RequestInit,
  options: FetchWithTokenOptions,
): Promise<Response> {
  const doFetch = options.fetch ?? fetch
  const method = (init.method ?? 'GET').toUpperCase()
  const send = async (nonce?: string) => {
    const headers = new Headers(init.headers)
    if (options.dpopKey) {
      headers.set('authorization', `DPoP ${options.accessToken}`)
      headers.set(
        'dpop',
        await createDpopProof(options.dpopKey, {
          method,
          url: input,
          accessToken: options.accessToken,
          ...(nonce ? { nonce } : {}),
        }),
      )
    } else {
      headers.set('authorization', `Bearer ${options.accessToken}`)
    }
    return doFetch(input, { ...init, method, headers })
  }
  const res = await send()
  const nonce = res.headers.get('dpop-nonce')
  if (options.dpopKey && nonce && res.status === 401 && /use_dpop_nonce/.test(res.headers.get('www-authenticate') ?? '')) {
    return send(nonce)
  }
  return res
}
