/**
 * `writ/verifier`: verify writ access tokens in a downstream service. Depends on jose and ioredis
 * (for the `redis` liveness mode) and nothing of the broker.
 *
 * @example
 * ```ts
 * import { createVerifier, VerifierError } from 'writ/verifier'
 *
 * const verifier = createVerifier({
 *   issuer: 'https://writ.example.com',
 *   audience: 'https://git.example.com/acme/app',
 *   jwksUri: 'https://writ.example.com/.well-known/jwks.json',
 *   liveness: { mode: 'redis', redis: 'redis://writ-redis:6379' },
 * })
 * try {
 *   const claims = await verifier.verifyRequest(request)
 * } catch (err) {
 *   if (err instanceof VerifierError) return verifier.errorResponse(err)
 *   throw err
 * }
 * ```
 *
 * @packageDocumentation
 */
export { authorize, type AuthorizeOptions, type AuthorizeRequest } from './authorize.js'
export { claimsSha256, tokenClaimsSha256 } from '../wire/claims-digest.js'
export { createVerifier, type Verifier } from './create-verifier.js'
export { createVerifierCounters, type VerifierCounters, type VerifierMetrics } from './verifier-metrics.js'
export { createDpopNonces, type DpopNonces, type DpopNoncesOptions } from './dpop-nonces.js'
export type { IntrospectionLivenessOptions } from './introspection-liveness.js'
export type { LivenessOptions, LivenessStatus, NoLivenessOptions } from './liveness.js'
export type { RedisLivenessOptions } from './redis-liveness.js'
export type { TokenPresentation } from './read-token-presentation.js'
export type { AccessTokenClaims, ActorClaim, AuthorizationDetail, TokenTask } from './types.js'
export { actorChain, delegationDepth, type DelegationOptions } from './delegation.js'
export {
  type AuthScheme,
  type ChallengeError,
  type ChallengeOptions,
  VerifierError,
  type VerifierErrorCode,
} from './verifier-error.js'
export { DEFAULT_DPOP_ALGORITHMS } from './dpop-defaults.js'
export {
  accessTokenHash,
  type DpopProof,
  normalizeHtu,
  verifyDpopProof,
  type VerifyDpopProofOptions,
} from './verify-dpop-proof.js'
export {
  DEFAULT_ALGORITHMS,
  type DpopVerifierOptions,
  type VerifierOptions,
} from './verifier-options.js'
export {
  allowsMcpCall,
  authorizeMcp,
  holdsMcpGrant,
  type AuthorizeMcpOptions,
  type McpScopeGrant,
} from './mcp/authorize-mcp.js'
export {
  createMcpProtection,
  type McpAuthentication,
  type McpProtection,
  type McpProtectionOptions,
} from './mcp/create-mcp-protection.js'
export {
  filterToolsList,
  guardToolsList,
  type McpServerTransportLike,
} from './mcp/filter-tools-list.js'
export { mcpAuthInfo, writClaimsOf, type McpAuthInfo } from './mcp/mcp-auth-info.js'
export { mcpMiddleware, type McpVariables } from './mcp/mcp-middleware.js'
export {
  mcpNodeMiddleware,
  type McpNodeMiddlewareOptions,
  type McpNodeRequest,
} from './mcp/mcp-node-middleware.js'
export { parseJsonRpcText } from './mcp/parse-json-rpc-text.js'
export {
  protectedResourceMetadata,
  type ProtectedResourceMetadata,
} from './mcp/protected-resource-metadata.js'
export { MCP_ACTIONS, readMcpCalls, type McpAction, type McpCall } from './mcp/read-mcp-calls.js'
export {
  protectedResourceMetadataUrl,
  resourceUriProblems,
  WELL_KNOWN_PRM,
} from './mcp/resource-uri.js'
export {
  writMiddleware,
  type WritMiddlewareOptions,
  type WritVariables,
} from './writ-middleware.js'
