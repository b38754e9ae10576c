import { WritClientError } from './errors.js'
import { requestToken, type RequestTokenOptions, type TokenResult } from './request-token.js'

/**
 * Options of {@link WritMcpAuthProvider}: how to ask writ for the task's token (everything
 * `requestToken` takes but a DPoP key: the MCP SDK's transports present tokens as `Bearer`).
 *
 * @example
 * ```ts
 * const options: WritMcpAuthOptions = {
 *   broker: 'https://writ.example.com',
 *   credentials: { clientId: 'deploy-agent', clientSecret: process.env.WRIT_CLIENT_SECRET! },
 *   manifest: { task: { id: 'REL-42' }, ttl: '10m', grants: [
 *     { type: 'mcp', actions: ['tools/call'], locations: ['https://mcp.example.com/mcp'], identifier: 'deploy_prod' },
 *   ] },
 * }
 * ```
 */
export type WritMcpAuthOptions = Omit<RequestTokenOptions, 'dpopKey'>

/** The SDK's `OAuthTokens`, structurally. */
export interface McpOAuthTokens {
  access_token: string
  token_type: string
  expires_in?: number
  scope?: string
}

/** A token is renewed this long before it expires, so no call goes out with a dying one. */
const RENEW_BEFORE_MS = 30_000

const nonInteractive = (what: string): WritClientError =>
  new WritClientError(
    'invalid_request',
    `${what}: WritMcpAuthProvider is for agents (client credentials), not the interactive flow`,
  )

/**
 * An `OAuthClientProvider` for the official MCP SDK's client transports (typed structurally, so
 * `writ/client` does not depend on the SDK) that gets the agent's token from writ for a task
 * manifest of `mcp` grants: the first request waits for it, through a human approval when the
 * policy needs one (`onPending` says where to approve; polling per CIBA), and later requests reuse
 * it until shortly before it expires. A token the server refused is dropped when the SDK
 * invalidates it. Refusals (`access_denied`, `expired_token`) reject the MCP call with a
 * {@link WritClientError}.
 *
 * `prepareTokenRequest` also lets the SDK's own OAuth flow (after a 401 and metadata discovery)
 * request the same grants at the token endpoint with `client_credentials`.
 *
 * @example
 * ```ts
 * import { Client } from '@modelcontextprotocol/sdk/client/index.js'
 * import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
 * import { WritMcpAuthProvider } from 'writ/client'
 *
 * const authProvider = new WritMcpAuthProvider({
 *   broker: 'https://writ.example.com',
 *   credentials: { clientId: 'deploy-agent', clientSecret: process.env.WRIT_CLIENT_SECRET! },
 *   manifest: { task: { id: 'REL-42', purpose: 'ship 4.2' }, ttl: '10m', grants: [
 *     { type: 'mcp', actions: ['tools/call'], locations: ['https://mcp.example.com/mcp'], identifier: 'deploy_prod' },
 *   ] },
 *   onPending: ({ approvalUri }) => console.log(`waiting for approval: ${approvalUri}`),
 * })
 * const client = new Client({ name: 'deploy-agent', version: '1.0.0' })
 * await client.connect(new StreamableHTTPClientTransport(new URL('https://mcp.example.com/mcp'), { authProvider }))
 * await client.callTool({ name: 'deploy_prod', arguments: { version: 'v4.2.0' } })
 * ```
 */
export class WritMcpAuthProvider {
  readonly #options: WritMcpAuthOptions
  readonly #now: () => number
  #token: { value: McpOAuthTokens; expiresAt: number } | undefined
  #inFlight: Promise<TokenResult> | undefined

  constructor(options: WritMcpAuthOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  /** Non-interactive: no redirect. */
  get redirectUrl(): undefined {
    return undefined
  }

  get clientMetadata(): {
    redirect_uris: string[]
    grant_types: string[]
    token_endpoint_auth_method: string
  } {
    const secret = 'clientSecret' in this.#options.credentials
    return {
      redirect_uris: [],
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: secret ? 'client_secret_basic' : 'private_key_jwt',
    }
  }

  clientInformation(): { client_id: string; client_secret?: string } {
    const { credentials } = this.#options
    return 'clientSecret' in credentials
      ? { client_id: credentials.clientId, client_secret: credentials.clientSecret }
      : { client_id: credentials.clientId }
  }

  /**
   * The current token; when there is none (or it is about to expire), asks writ for one and waits,
   * through an approval if the policy needs one.
   */
  async tokens(): Promise<McpOAuthTokens> {
    const held = this.#token
    if (held !== undefined && this.#now() < held.expiresAt - RENEW_BEFORE_MS) {
      return { ...held.value, expires_in: Math.floor((held.expiresAt - this.#now()) / 1000) }
    }
    // One request at a time: concurrent MCP calls wait for the same token (and approval).
    this.#inFlight ??= requestToken(this.#options).finally(() => {
      this.#inFlight = undefined
    })
    const result = await this.#inFlight
    const value: McpOAuthTokens = {
      access_token: result.accessToken,
      token_type: 'Bearer',
      expires_in: result.expiresIn,
      ...(result.scope !== '' ? { scope: result.scope } : {}),
    }
    this.#token = { value, expiresAt: this.#now() + result.expiresIn * 1000 }
    return value
  }

  /** Keeps a token the SDK's own flow obtained. */
  saveTokens(tokens: McpOAuthTokens): void {
    const life = typeof tokens.expires_in === 'number' ? tokens.expires_in : 60
    this.#token = { value: tokens, expiresAt: this.#now() + life * 1000 }
  }

  /** The SDK's client-credentials request: the manifest's grants as `authorization_details`. */
  prepareTokenRequest(): URLSearchParams {
    const { task, ttl, grants } = this.#options.manifest
    const params = new URLSearchParams({
      grant_type: 'client_credentials',
      authorization_details: JSON.stringify(grants),
      task_id: task.id,
    })
    if (task.purpose !== undefined) params.set('task_purpose', task.purpose)
    if (task.requested_by !== undefined) params.set('requested_by', task.requested_by)
    if (ttl !== undefined) params.set('ttl', String(ttl))
    return params
  }

  /** Drops the token (and, for `all`, nothing else is held): the next call asks writ again. */
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'tokens') this.#token = undefined
  }

  redirectToAuthorization(): never {
    throw nonInteractive('redirectToAuthorization')
  }

  saveCodeVerifier(): never {
    throw nonInteractive('saveCodeVerifier')
  }

  codeVerifier(): never {
    throw nonInteractive('codeVerifier')
  }
}
