import { describe, expect, it } from 'vitest'
import { protectedResourceMetadataUrl, resourceUriProblems } from '../../../src/verifier/index.js'

describe('resource URIs (RFC 8707, RFC 9728)', () => {
  it('accepts canonical https URIs and http on loopback only', () => {
    expect(resourceUriProblems('https://mcp.example.com/mcp')).toEqual([])
    expect(resourceUriProblems('https://mcp.example.com')).toEqual([])
    expect(resourceUriProblems('http://127.0.0.1:8082/mcp')).toEqual([])
    expect(resourceUriProblems('http://localhost/mcp')).toEqual([])
    expect(resourceUriProblems('http://mcp.example.com/mcp')).toEqual([
      'resource must be an https: URL (http: only on localhost, 127.0.0.1 or [::1])',
    ])
  })

  it('refuses fragments, queries, credentials and non-canonical spellings', () => {
    expect(resourceUriProblems('https://mcp.example.com/mcp#x')).toEqual(['resource must not have a fragment (RFC 8707 §2)'])
    expect(resourceUriProblems('https://mcp.example.com/mcp?a=1')).toEqual(['resource must not have a query (RFC 8707 §2)'])
    expect(resourceUriProblems('https://u:p@mcp.example.com/mcp')).toEqual(['resource must not carry credentials'])
    expect(resourceUriProblems('https://MCP.example.com:443/mcp')).toEqual([
      'resource must be in canonical form (lower-case scheme and host, no default port): https://mcp.example.com/mcp',
    ])
    expect(resourceUriProblems('mcp')).toEqual(['resource must be an absolute URL: "mcp"'])
    expect(resourceUriProblems(undefined)).toEqual(['resource must be a URL (a string)'])
  })

  it('puts the metadata under the well-known path, before the resource path (§3.1)', () => {
    expect(protectedResourceMetadataUrl('https://mcp.example.com/mcp')).toBe(
      'https://mcp.example.com/.well-known/oauth-protected-resource/mcp',
    )
    expect(protectedResourceMetadataUrl('https://mcp.example.com')).toBe(
      'https://mcp.example.com/.well-known/oauth-protected-resource',
    )
    expect(protectedResourceMetadataUrl('https://mcp.example.com/a/mcp/')).toBe(
      'https://mcp.example.com/.well-known/oauth-protected-resource/a/mcp/',
    )
  })
})
