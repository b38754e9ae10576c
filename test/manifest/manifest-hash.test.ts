import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { canonicalize } from '../../src/manifest/canonicalize.js'
import { manifestSha256 } from '../../src/manifest/manifest-hash.js'
import { parseManifest } from '../../src/manifest/parse-manifest.js'

const YAML_TEXT = `
# the same manifest, YAML flavour
task:
  requested_by: carol@example.com
  id: JIRA-4711
  purpose: Organize the project documentation
ttl: 15m
grants:
  - identifier: "docs/**"
    type: repo
    locations: [https://git.example.com/acme/app]
    actions: [read]
    limits: { files: 10, ratio: 0.5 }
`

const JSON_TEXT = JSON.stringify({
  grants: [
    {
      type: 'repo',
      actions: ['read'],
      locations: ['https://git.example.com/acme/app'],
      identifier: 'docs/**',
      limits: { ratio: 0.5, files: 10.0 },
    },
  ],
  ttl: 900,
  task: { id: 'JIRA-4711', purpose: 'Organize the project documentation', requested_by: 'carol@example.com' },
})

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

describe('manifestSha256', () => {
  it('hashes YAML and JSON of the same manifest the same', () => {
    const fromYaml = manifestSha256(parseManifest(YAML_TEXT, { contentType: 'application/yaml' }))
    const fromJson = manifestSha256(parseManifest(JSON_TEXT, { contentType: 'application/json' }))
    expect(fromYaml).toMatch(/^[0-9a-f]{64}$/)
    expect(fromYaml).toBe(fromJson)
  })

  it('is SHA-256 over the canonical JSON of { task, ttl_seconds, grants }', () => {
    const manifest = parseManifest(JSON_TEXT, { contentType: 'application/json' })
    const canonical =
      '{"grants":[{"actions":["read"],"identifier":"docs/**","limits":{"files":10,"ratio":0.5},' +
      '"locations":["https://git.example.com/acme/app"],"type":"repo"}],' +
      '"task":{"id":"JIRA-4711","purpose":"Organize the project documentation","requested_by":"carol@example.com"},' +
      '"ttl_seconds":900}'
    expect(manifestSha256(manifest)).toBe(sha256(canonical))
  })

  it('takes the canonical JSON of the grants when the caller has it, with the same result', () => {
    const manifest = parseManifest(JSON_TEXT, { contentType: 'application/json' })
    expect(manifestSha256(manifest, canonicalize(manifest.grants))).toBe(manifestSha256(manifest))
  })

  it('leaves out absent optional fields instead of writing null', () => {
    const manifest = { task: { id: 'T-1' }, grants: [{ type: 'repo', actions: ['read'] }] }
    expect(manifestSha256(manifest)).toBe(sha256('{"grants":[{"actions":["read"],"type":"repo"}],"task":{"id":"T-1"}}'))
  })

  it('changes when anything that matters changes', () => {
    const base = parseManifest(JSON_TEXT, { contentType: 'application/json' })
    const hash = manifestSha256(base)
    expect(manifestSha256({ ...base, ttlSeconds: 901 })).not.toBe(hash)
    expect(manifestSha256({ ...base, task: { ...base.task, purpose: 'other' } })).not.toBe(hash)
    expect(manifestSha256({ ...base, grants: [{ ...base.grants[0]!, actions: ['write'] }] })).not.toBe(hash)
  })
})

describe('manifestSha256 with resources and scopes', () => {
  const base = {
    task: { id: 'REL-7' },
    ttlSeconds: 600,
    grants: [{ type: 'mcp', actions: ['tools/call'], locations: ['https://mcp.example.com/mcp'], identifier: 'deploy_prod' }],
  }
  const sha = (value: unknown) => createHash('sha256').update(canonicalize(value), 'utf8').digest('hex')

  it('hashes a manifest without them exactly as before, so old evidence re-verifies', () => {
    expect(manifestSha256(base)).toBe(sha({ task: base.task, ttl_seconds: 600, grants: base.grants }))
  })

  it('covers resources and scopes when present, as canonical members', () => {
    const resources = ['https://mcp.example.com/mcp']
    const withBoth = { ...base, resources, scopes: ['mcp:deploy'] }
    expect(manifestSha256(withBoth)).toBe(
      sha({ task: base.task, ttl_seconds: 600, grants: base.grants, resources, scopes: ['mcp:deploy'] }),
    )
    const hashes = new Set([
      manifestSha256(base),
      manifestSha256({ ...base, resources }),
      manifestSha256({ ...base, resources: ['https://mcp.other.example/mcp'] }),
      manifestSha256({ ...base, scopes: ['mcp:deploy'] }),
      manifestSha256(withBoth),
    ])
    expect(hashes.size).toBe(5)
  })

  it('reads resources from a manifest document, checked as RFC 8707 resource indicators', () => {
    const text = JSON.stringify({ task: { id: 'T' }, grants: base.grants, resources: ['https://mcp.example.com/mcp', 'https://mcp.example.com/mcp'] })
    expect(parseManifest(text).resources).toEqual(['https://mcp.example.com/mcp'])
    const relative = JSON.stringify({ task: { id: 'T' }, grants: base.grants, resources: ['mcp'] })
    expect(() => parseManifest(relative)).toThrow(/^resources\[0\]: "mcp" is not an absolute URI/)
  })
})
