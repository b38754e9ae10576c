/**
 * `writ/client`: what an agent runtime embeds to get task-scoped tokens from a writ broker.
 * @packageDocumentation
 */
export { requestToken } from './request-token.js'
export type {
  ClientCredentials,
  ManifestInput,
  PendingApproval,
  RequestTokenOptions,
  TokenResult,
} from './request-token.js'
export { exchangeToken } from './exchange-token.js'
export type { ExchangeTokenOptions, ExchangeTokenResult } from './exchange-token.js'
export { revoke } from './revoke.js'
export type { RevokeOptions } from './revoke.js'
export { fetchWithToken } from './fetch-with-token.js'
export type { FetchWithTokenOptions } from './fetch-with-token.js'
export { createDpopProof, dpopThumbprint } from './dpop.js'
export type { DpopKeyPair } from './dpop.js'
export { WritClientError } from './errors.js'
export type { WritClientErrorCode } from './errors.js'
export { WritMcpAuthProvider } from './mcp-auth-provider.js'
export type { McpOAuthTokens, WritMcpAuthOptions } from './mcp-auth-provider.js'
