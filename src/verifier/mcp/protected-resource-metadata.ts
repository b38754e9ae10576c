/**
 * An RFC 9728 Protected Resource Metadata document, as `writ/verifier` serves it for an MCP
 * server at `/.well-known/oauth-protected-resource` (and the path-suffixed form).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 *
 * @example
 * ```ts
 * const document: ProtectedResourceMetadata = protection.metadata()
 * document.authorization_servers // ['https://writ.example.com']
 * ```
 */
export interface ProtectedResourceMetadata {
  /** The server's canonical resource URI: the `resource` clients send, the `aud` tokens name. */
  resource: string
  /** Issuers of the authorization servers (writ) that issue tokens for this server. */
  authorization_servers: string[]
  /** The scopes a client may request for this server. */
  scopes_supported?: string[]
  /** How tokens are presented: the `Authorization` header only. */
  bearer_methods_supported: ['header']
  /** The JWS algorithms this server accepts in DPoP proofs (RFC 9449). */
  dpop_signing_alg_values_supported: string[]
  /** RFC 9396 types of `authorization_details` this server understands. */
  authorization_details_types_supported: ['mcp']
  resource_name?: string
  resource_documentation?: string
}

/**
 * Builds the Protected Resource Metadata of an MCP server (RFC 9728 §2).
 *
 * @example
 * ```ts
 * protectedResourceMetadata({
 *   resource: 'https://mcp.example.com/mcp',
 *   authorizationServers: ['https://writ.example.com'],
 *   scopesSupported: ['mcp:read', 'mcp:deploy'],
 *   dpopAlgorithms: ['ES256', 'EdDSA'],
 * })
 * ```
 */
export function protectedResourceMetadata(options: {
  resource: string
  authorizationServers: readonly string[]
  scopesSupported?: readonly string[]
  dpopAlgorithms: readonly string[]
  resourceName?: string
  resourceDocumentation?: string
}): ProtectedResourceMetadata {
  return {
    resource: options.resource,
    authorization_servers: [...options.authorizationServers],
    ...(options.scopesSupported?.length ? { scopes_supported: [...options.scopesSupported] } : {}),
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: [...options.dpopAlgorithms],
    authorization_details_types_supported: ['mcp'],
    ...(options.resourceName !== undefined ? { resource_name: options.resourceName } : {}),
    ...(options.resourceDocumentation !== undefined
      ? { resource_documentation: options.resourceDocumentation }
      : {}),
  }
}
