/** Hosts where an `http:` resource URI is allowed: the machine itself, for development. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * What is wrong with a resource URI as an MCP server's canonical identifier (RFC 8707 §2, RFC 9728
 * §1.2, MCP authorization "Canonical Server URI"): it must be an absolute `https:` URL (`http:` only
 * on a loopback host), without fragment or query, and in canonical form (lower-case scheme and
 * host, no default port, no trailing slash added), so the `aud` a token names and the `resource` a
 * client sends compare as strings.
 *
 * @returns the problems, empty when the URI is fine.
 *
 * @example
 * ```ts
 * resourceUriProblems('https://mcp.example.com/mcp') // []
 * resourceUriProblems('https://MCP.example.com/mcp#x') // ['… must not have a fragment', …]
 * ```
 */
export function resourceUriProblems(resource: unknown): string[] {
  if (typeof resource !== 'string' || resource === '') return ['resource must be a URL (a string)']
  let url: URL
  try {
    url = new URL(resource)
  } catch {
    return [`resource must be an absolute URL: ${JSON.stringify(resource)}`]
  }
  const problems: string[] = []
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    problems.push('resource must be an https: URL (http: only on localhost, 127.0.0.1 or [::1])')
  }
  if (resource.includes('#')) problems.push('resource must not have a fragment (RFC 8707 §2)')
  if (url.search !== '' || resource.includes('?')) {
    problems.push('resource must not have a query (RFC 8707 §2)')
  }
  if (url.username !== '' || url.password !== '') {
    problems.push('resource must not carry credentials')
  }
  const canonical = canonicalResource(url, resource)
  if (problems.length === 0 && canonical !== resource) {
    const rule = 'lower-case scheme and host, no default port'
    problems.push(`resource must be in canonical form (${rule}): ${canonical}`)
  }
  return problems
}

/** The canonical spelling of a parsed resource URI; a path-less one stays without a slash. */
function canonicalResource(url: URL, written: string): string {
  const path = url.pathname === '/' && !written.endsWith('/') ? '' : url.pathname
  return `${url.origin}${path}`
}

/**
 * The URL of the Protected Resource Metadata for a resource (RFC 9728 §3.1): the well-known path
 * `/.well-known/oauth-protected-resource` inserted between the host and the resource's path, so
 * `https://mcp.example.com/mcp` has its document at
 * `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.1
 *
 * @example
 * ```ts
 * protectedResourceMetadataUrl('https://mcp.example.com/mcp')
 * // 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp'
 * ```
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource)
  // §3.1: a slash right after the host is dropped; the path is kept as it is.
  const path = url.pathname === '/' ? '' : url.pathname
  return `${url.origin}${WELL_KNOWN_PRM}${path}`
}

/** RFC 9728 §3: the well-known URI suffix of Protected Resource Metadata. */
export const WELL_KNOWN_PRM = '/.well-known/oauth-protected-resource'
