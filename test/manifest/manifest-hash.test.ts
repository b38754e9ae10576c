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
