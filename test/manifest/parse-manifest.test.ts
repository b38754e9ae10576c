import { describe, expect, it } from 'vitest'
import { WritError } from '../../src/errors.js'
import { parseManifest, parseManifestObject } from '../../src/manifest/parse-manifest.js'

const YAML_MANIFEST = `
task: { id: JIRA-4711, purpose: "Organize the project documentation", requested_by: carol@example.com }
ttl: 15m
grants:                       # each entry is an RFC 9396 authorization_details object
  - { type: repo, actions: [read],  locations: [https://git.example.com/acme/app], identifier: "docs/**" }
  - { type: repo, actions: [write], locations: [https://git.example.com/acme/app], identifier: "docs/**" }
`

const grant = (extra: Record<string, unknown> = {}) => ({ type: 'repo', actions: ['read'], ...extra })
const body = (value: unknown) => JSON.stringify(value)

function rejection(run: () => unknown): WritError {
  try {
    run()
  } catch (err) {
    if (err instanceof WritError) return err
    throw err
  }
  throw new Error('expected a WritError')
}

const problemsOf = (value: unknown, maxGrants?: number): string[] =>
  rejection(() => parseManifestObject(value, maxGrants === undefined ? {} : { maxGrants })).message.split('; ')

describe('parseManifest', () => {
  it('parses the design document manifest from YAML and normalizes ttl to seconds', () => {
    const manifest = parseManifest(YAML_MANIFEST, { contentType: 'application/yaml' })
    expect(manifest).toEqual({
      task: { id: 'JIRA-4711', purpose: 'Organize the project documentation', requested_by: 'carol@example.com' },
      ttlSeconds: 900,
      grants: [
        { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
        { type: 'repo', actions: ['write'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
      ],
    })
  })

  it('parses JSON by content type, with parameters, and by a leading brace without one', () => {
    const json = body({ task: { id: 'T-1' }, ttl: 90, grants: [grant()] })
    const expected = { task: { id: 'T-1' }, ttlSeconds: 90, grants: [grant()] }
    expect(parseManifest(json, { contentType: 'application/json; charset=utf-8' })).toEqual(expected)
    expect(parseManifest(`  \n${json}`, {})).toEqual(expected)
    expect(parseManifest(json, { contentType: 'Application/JSON' })).toEqual(expected)
    expect(parseManifest(`\uFEFF${json}`, { contentType: 'application/json' })).toEqual(expected)
  })

  it('parses YAML for every YAML media type and when no content type is given', () => {
    for (const contentType of ['application/yaml', 'text/yaml', 'application/x-yaml', undefined]) {
      const options = contentType === undefined ? {} : { contentType }
      expect(parseManifest(YAML_MANIFEST, options).task.id).toBe('JIRA-4711')
    }
  })

  it('leaves ttlSeconds out when the manifest names no ttl', () => {
    const manifest = parseManifest(body({ task: { id: 'T-1' }, grants: [grant()] }), { contentType: 'application/json' })
    expect(manifest).toEqual({ task: { id: 'T-1' }, grants: [grant()] })
    expect('ttlSeconds' in manifest).toBe(false)
    expect('purpose' in manifest.task).toBe(false)
  })

  it('keeps type-specific fields of a grant', () => {
    const extra = { role_arn: 'arn:aws:iam::123456789012:role/docs', session: { tags: [{ k: 'v' }], n: 1.5, ok: true, none: null } }
    const manifest = parseManifestObject({ task: { id: 'T-1' }, grants: [grant(extra)] })
    expect(manifest.grants[0]).toEqual(grant(extra))
  })

  it('refuses an unknown content type, naming it', () => {
    const err = rejection(() => parseManifest('{}', { contentType: 'text/plain' }))
    expect(err.code).toBe('invalid_request')
    expect(err.status).toBe(400)
    expect(err.message).toMatch(/^unsupported content type "text\/plain"/)
  })

  it('reports malformed JSON with a short reason, line and column', () => {
    const cases: Array<[string, string]> = [
      ['{"task": ', 'unexpected end of input at line 1, column 10'],
      ['{\n  "task": {"id": "x"},\n  "grants": [1,]\n}', "unexpected character ']', expected a value at line 3, column 16"],
      ['{"a": 1,}', "unexpected character '}', expected a double-quoted property name at line 1, column 9"],
      ["{'a': 1}", "unexpected character ''', expected a double-quoted property name at line 1, column 2"],
      ['{"a": "x\ny"}', 'unescaped control character in string at line 1, column 9'],
      ['{"a": 01}', "unexpected character '1', expected ',' or '}' at line 1, column 8"],
      ['{"a": 1} x', 'unexpected data after the JSON value at line 1, column 10'],
      ['{"a": "\\x"}', 'invalid escape in string at line 1, column 8'],
      ['{"a": tru}', "unexpected character 't', expected a value at line 1, column 7"],
      ['{"a": "open', 'unterminated string at line 1, column 7'],
      ['{"a": -}', 'invalid number at line 1, column 7'],
    ]
    for (const [text, reason] of cases) {
      const err = rejection(() => parseManifest(text, { contentType: 'application/json' }))
      expect(err.code).toBe('invalid_request')
      expect(err.message, text).toBe(`manifest is not valid JSON: ${reason}`)
    }
  })

  it('reports malformed YAML with its line', () => {
    const err = rejection(() => parseManifest('task: { id: x\ngrants: [\n', { contentType: 'application/yaml' }))
    expect(err.code).toBe('invalid_request')
    expect(err.message).toMatch(/^manifest is not valid YAML: .* at line \d+, column \d+/)
  })

  it('refuses YAML with a custom tag or a language-specific tag', () => {
    for (const text of ['task: !shell { id: x }\ngrants: []\n', 'task: { id: !!binary aGk= }\ngrants: []\n']) {
      const err = rejection(() => parseManifest(text, { contentType: 'text/yaml' }))
      expect(err.message).toMatch(/^manifest is not valid YAML: tags are not allowed \(.+\) at line 1, column \d+/)
    }
  })

  it('refuses a YAML alias bomb', () => {
    const lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i)
      const cur = String.fromCharCode(97 + i)
      lines.push(`${cur}: &${cur} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`)
    }
    const started = Date.now()
    const err = rejection(() => parseManifest(lines.join('\n'), { contentType: 'application/yaml' }))
    expect(err.message).toMatch(/^manifest is not valid YAML: too many aliases/)
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('refuses duplicate YAML keys', () => {
    const err = rejection(() => parseManifest('task: { id: a }\ntask: { id: b }\ngrants: []\n', { contentType: 'application/yaml' }))
    expect(err.message).toBe('manifest is not valid YAML: duplicate key at line 2, column 1')
  })

  it('refuses a YAML stream with two documents', () => {
    const err = rejection(() => parseManifest(`${YAML_MANIFEST}---\n${YAML_MANIFEST}`, { contentType: 'application/yaml' }))
    expect(err.message).toMatch(/^manifest is not valid YAML: expected a single document, found more than one at line \d+/)
  })

  it('refuses a YAML alias that refers to itself', () => {
    const err = rejection(() => parseManifest('task: { id: x }\ngrants: &g [ { type: repo, actions: [read], extra: *g } ]\n', {}))
    expect(err.code).toBe('invalid_request')
  })

  it('refuses YAML mapping keys that are collections', () => {
    const err = rejection(() => parseManifest('? [a, b]\n: 1\n', { contentType: 'application/yaml' }))
    expect(err.message).toBe('manifest is not valid YAML: mapping keys must be plain scalars at line 1, column 3')
  })

  it('refuses YAML special floats that JSON cannot carry', () => {
    const text = 'task: { id: x }\ngrants: [ { type: repo, actions: [read], limit: .inf } ]\n'
    expect(rejection(() => parseManifest(text, {})).message).toBe('grants[0].limit: expected a finite number')
  })
})

describe('parseManifestObject', () => {
  it('names wrong types exactly', () => {
    expect(
      problemsOf({ task: { id: 7 }, ttl: '15m', grants: [grant(), { type: 'repo', actions: 'read' }] }),
    ).toEqual(['task.id: expected a string', 'grants[1].actions: expected an array of strings'])
    expect(problemsOf({ task: 'x', grants: {} })).toEqual([
      'task: expected an object like { id: JIRA-4711, purpose: ... }',
      'grants: expected an array of objects',
    ])
    expect(problemsOf({ task: { id: 'x' }, grants: [grant({ actions: ['read', 5] })] })).toEqual([
      'grants[0].actions[1]: expected a string',
    ])
    expect(problemsOf({ task: { id: 'x' }, grants: ['repo'] })).toEqual(['grants[0]: expected an object'])
    expect(problemsOf([])).toEqual(['expected an object with task, ttl and grants'])
  })

  it('says required for missing fields and lists every problem at once', () => {
    expect(problemsOf({ grants: [{}] })).toEqual([
      'task: required',
      'grants[0].type: required',
      'grants[0].actions: required',
    ])
    expect(problemsOf({ task: {}, grants: [grant()] })).toEqual(['task.id: required'])
  })

  it('refuses an empty grant list and more grants than allowed', () => {
    expect(problemsOf({ task: { id: 'x' }, grants: [] })).toEqual(['grants: expected at least one of the grants'])
    const grants = Array.from({ length: 51 }, () => grant())
    expect(problemsOf({ task: { id: 'x' }, grants })).toEqual(['grants: at most 50 grants (got 51)'])
    expect(parseManifestObject({ task: { id: 'x' }, grants: grants.slice(0, 50) }).grants).toHaveLength(50)
    expect(problemsOf({ task: { id: 'x' }, grants: grants.slice(0, 3) }, 2)).toEqual(['grants: at most 2 grants (got 3)'])
  })

  it('refuses unknown top-level keys and unknown task keys, naming them', () => {
    expect(problemsOf({ task: { id: 'x' }, grants: [grant()], scope: 'admin', extra: 1 })).toEqual([
      'unknown fields "scope", "extra"',
    ])
    expect(problemsOf({ task: { id: 'x', owner: 'me' }, grants: [grant()] })).toEqual(['task: unknown field "owner"'])
  })

  it('refuses __proto__, constructor and prototype as field names anywhere', () => {
    const proto = JSON.parse('{"task":{"id":"x"},"grants":[{"type":"repo","actions":["read"],"__proto__":{"admin":true}}]}')
    expect(problemsOf(proto)).toEqual(['grants[0].__proto__: field name not allowed'])
    expect(problemsOf({ task: { id: 'x' }, grants: [grant({ constructor: 'x' })] })).toEqual([
      'grants[0].constructor: field name not allowed',
    ])
    expect(problemsOf({ task: { id: 'x' }, grants: [grant({ meta: { prototype: 1 } })] })).toEqual([
      'grants[0].meta.prototype: field name not allowed',
    ])
    expect(({} as Record<string, unknown>).admin).toBeUndefined()
  })

  it('refuses __proto__ sent as YAML', () => {
    const text = 'task: { id: x }\ngrants:\n  - type: repo\n    actions: [read]\n    __proto__: { admin: true }\n'
    expect(rejection(() => parseManifest(text, {})).message).toBe('grants[0].__proto__: field name not allowed')
  })

  it('checks grant fields: type pattern, action and location limits, identifier', () => {
    const problems = problemsOf({
      task: { id: 'x' },
      grants: [
        { type: 'repo write', actions: [] },
        { type: 'x'.repeat(65), actions: ['a'.repeat(65)] },
        grant({ locations: [] }),
        grant({ locations: ['relative/path', 'https://ok.example.com/', 'https://bad example.com'] }),
        grant({ identifier: '' }),
        grant({ identifier: 'a'.repeat(1025) }),
        grant({ actions: Array.from({ length: 33 }, (_, i) => `a${i}`) }),
      ],
    })
    expect(problems).toEqual([
      'grants[0].type: expected letters, digits and _ . : - only',
      'grants[0].actions: expected at least one action',
      'grants[1].type: at most 64 characters (got 65)',
      'grants[1].actions[0]: at most 64 characters (got 65)',
      'grants[2].locations: expected at least one location, or leave the field out',
      'grants[3].locations[0]: expected an absolute URI, like https://api.example.com/',
      'grants[3].locations[2]: expected an absolute URI, like https://api.example.com/',
      'grants[4].identifier: must not be empty',
      'grants[5].identifier: at most 1024 characters (got 1025)',
      'grants[6].actions: at most 32 actions (got 33)',
    ])
  })

  it('checks task fields: id length and control characters, purpose and requested_by length', () => {
    expect(
      problemsOf({
        task: { id: 'a\nb', purpose: 'p'.repeat(1025), requested_by: 'r'.repeat(257) },
        grants: [grant()],
      }),
    ).toEqual([
      'task.id: must not contain control characters (U+000A)',
      'task.purpose: at most 1024 characters (got 1025)',
      'task.requested_by: at most 256 characters (got 257)',
    ])
    expect(problemsOf({ task: { id: '' }, grants: [grant()] })).toEqual(['task.id: must not be empty'])
    expect(problemsOf({ task: { id: 'x'.repeat(129) }, grants: [grant()] })).toEqual([
      'task.id: at most 128 characters (got 129)',
    ])
  })

  it('refuses bad durations, naming ttl', () => {
    expect(problemsOf({ task: { id: 'x' }, ttl: '15 minutes', grants: [grant()] })).toEqual([
      'ttl: expected a duration like 90s, 15m or 1h',
    ])
    expect(problemsOf({ task: { id: 'x' }, ttl: '48h', grants: [grant()] })).toEqual(['ttl: at most 24h (86400 seconds)'])
    expect(problemsOf({ task: { id: 'x' }, ttl: null, grants: [grant()] })).toEqual([
      'ttl: expected a duration like 90s, 15m or 1h',
    ])
  })

  it('refuses values that are not JSON and lone surrogates', () => {
    expect(problemsOf({ task: { id: 'x' }, grants: [grant({ when: new Date(0) })] })).toEqual([
      'grants[0].when: expected a JSON value',
    ])
    expect(problemsOf({ task: { id: 'x' }, grants: [grant({ n: Number.NaN })] })).toEqual([
      'grants[0].n: expected a finite number',
    ])
    expect(problemsOf({ task: { id: 'x\ud800' }, grants: [grant()] })).toEqual([
      'task.id: contains an invalid (lone surrogate) character',
    ])
  })

  it('refuses hostile nesting without exhausting the stack', () => {
    let deep: unknown = 'x'
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(problemsOf({ task: { id: 'x' }, grants: [grant({ deep })] })[0]).toMatch(
      /^grants\[0\]\.deep(\[0\])+: nested too deeply \(more than 32 levels\)$/,
    )
  })

  it('caps the number of problems in one message', () => {
    const grants = Array.from({ length: 40 }, () => ({ type: '!', actions: 'x' }))
    const message = rejection(() => parseManifestObject({ task: { id: 'x' }, grants })).message
    expect(message.split('; ')).toHaveLength(21)
    expect(message).toMatch(/; and \d+ more$/)
  })
})
