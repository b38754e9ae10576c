import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stringify as toYaml, parse as parseYaml } from 'yaml'
import { WritError } from '../../src/errors.js'
import { manifestSha256, parseManifest } from '../../src/manifest/index.js'
import { loadPolicy, PolicyError } from '../../src/policy/index.js'
import { POLICY_TEXT } from '../policy/fixtures.js'
import { fuzzSync, hostileJson, hostileText } from './fuzz-runs.js'

const CONTENT_TYPES = [undefined, 'application/json', 'application/yaml', 'text/yaml', 'application/x-yaml', 'text/plain', 'application/json; charset=utf-8', '']

/** A manifest the schema accepts: random task text, grants built from plausible parts. */
const validManifest = fc.record({
  task: fc.record({
    id: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$/),
    purpose: fc.stringMatching(/^[A-Za-z][A-Za-z ,.]{0,60}$/),
    requested_by: fc.constantFrom('carol@example.com', 'dave@example.org'),
  }),
  ttl: fc.constantFrom('30s', '5m', '15m', '1h'),
  grants: fc.array(
    fc.record({
      type: fc.constantFrom('repo', 'deploy', 'db'),
      actions: fc.uniqueArray(fc.constantFrom('read', 'write', 'create', 'migrate'), { minLength: 1, maxLength: 3 }),
      locations: fc.constant(['https://git.example.com/acme/app']),
      identifier: fc.constantFrom('docs/**', 'src/a.ts', 'README.md'),
    }),
    { minLength: 1, maxLength: 4 },
  ),
})

/** Replaces the value at a random path of `value` (or deletes it) with something hostile. */
function mutate(value: unknown, path: number[], replacement: unknown, remove: boolean): unknown {
  if (value === null || typeof value !== 'object' || path.length === 0) return replacement
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as object) }
  const keys = Object.keys(copy)
  if (keys.length === 0) return replacement
  const key = keys[path[0]! % keys.length]!
  const target = copy as Record<string, unknown>
  if (path.length === 1 && remove) delete target[key]
  else target[key] = mutate(target[key], path.slice(1), replacement, remove)
  return copy
}

const mutation = fc.record({
  path: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
  replacement: fc.oneof(hostileJson(), hostileText(60)),
  remove: fc.boolean(),
})

/** parseManifest either returns or throws a 400 WritError naming a field; nothing else. */
function expectManifestOutcome(body: string, contentType: string | undefined): void {
  try {
    parseManifest(body, contentType === undefined ? {} : { contentType })
  } catch (err) {
    if (!(err instanceof WritError)) throw new Error(`parseManifest threw a ${String(err)} for ${JSON.stringify(body).slice(0, 200)}`)
    expect(err.status).toBe(400)
    expect(err.code).toBe('invalid_request')
    expect(err.message.length).toBeGreaterThan(0)
  }
}

describe('fuzz: manifest parser', () => {
  it('reads every valid manifest the same from JSON and from YAML', () => {
    fuzzSync('manifest parser (valid, JSON = YAML)', 200, validManifest, (manifest) => {
      const fromJson = parseManifest(JSON.stringify(manifest), { contentType: 'application/json' })
      const fromYaml = parseManifest(toYaml(manifest), { contentType: 'application/yaml' })
      expect(manifestSha256(fromYaml)).toBe(manifestSha256(fromJson))
    })
  })

  it('answers arbitrary text with a manifest or a 400, never another error', () => {
    fuzzSync(
      'manifest parser (arbitrary text)',
      500,
      fc.tuple(
        fc.oneof(hostileText(400), fc.json({ maxDepth: 4 }), hostileJson().map((v) => toYaml(v))),
        fc.constantFrom(...CONTENT_TYPES),
      ),
      ([body, type]) => expectManifestOutcome(body, type),
    )
  })

  it('answers a valid manifest with one part broken, as JSON or YAML, with a manifest or a 400', () => {
    fuzzSync(
      'manifest parser (mutated manifests)',
      500,
      fc.tuple(validManifest, mutation, fc.boolean()),
      ([manifest, m, asYaml]) => {
        const broken = mutate(manifest, m.path, m.replacement, m.remove)
        if (asYaml) expectManifestOutcome(toYaml(broken), 'application/yaml')
        else expectManifestOutcome(JSON.stringify(broken) ?? 'null', 'application/json')
      },
    )
  })

  it('refuses YAML tags, anchors bombs and duplicate keys with a 400', () => {
    // A billion laughs: each level repeats the one before four times.
    const levels = 'abcdefghi'.split('')
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...levels.slice(1).map((name, i) => `${name}: &${name} [${Array(4).fill(`*${levels[i]}`).join(', ')}]`),
    ].join('\n')
    for (const body of [bomb, 'task: !!js/function "x"', 'task: 1\ntask: 2', '--- a\n--- b']) {
      expect(() => parseManifest(body, { contentType: 'application/yaml' })).toThrow(WritError)
    }
  })
})

describe('fuzz: policy loader', () => {
  const base = parseYaml(POLICY_TEXT) as unknown

  it('answers a policy with one part broken with a policy or a PolicyError, never another error', () => {
    fuzzSync('policy loader (mutated policies)', 300, mutation, (m) => {
      const text = toYaml(mutate(base, m.path, m.replacement, m.remove))
      try {
        loadPolicy(text)
      } catch (err) {
        if (!(err instanceof PolicyError)) throw new Error(`loadPolicy threw ${String(err)} for:\n${text.slice(0, 500)}`)
        expect(err.problems.length).toBeGreaterThan(0)
      }
    })
  })

  it('answers arbitrary text with a PolicyError, never another error', () => {
    fuzzSync('policy loader (arbitrary text)', 300, fc.oneof(hostileText(400), hostileJson().map((v) => toYaml(v))), (text) => {
      expect(() => loadPolicy(text)).toThrow(PolicyError)
    })
  })
})
