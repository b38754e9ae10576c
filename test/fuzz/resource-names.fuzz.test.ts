import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { WritError } from '../../src/errors.js'
import { parseManifestObject } from '../../src/manifest/index.js'
import { fuzzSync } from './fuzz-runs.js'

/** Pieces an attacker builds a wider-than-it-looks identifier or location path from. */
const PIECES = [
  'docs', 'admin', 'a.md', '.', '..', '%2e', '%2E', '%2f', '%5c', '%25', '%252e', '/', '\\', '?', '#', '@',
  '*', '**', '\u200b', '\u200d', '\u00ad', '\u202e', '\u2066', '\ufeff', '\u001b', '\u0085', '\u2028', '\u00a0',
  'https://', 'u:p@', 'host', '.well-known', 'v1..2',
]
const nameOf = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 8 }).map((parts) => parts.join(''))

/** Decodes %XX until nothing changes (a server may decode more than once) and reads \ as /. */
function asAServerMightReadIt(name: string): string {
  let out = name
  for (let i = 0; i < 4; i++) {
    const next = out.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    if (next === out) break
    out = next
  }
  return out.replace(/\\/g, '/')
}

const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u00a0]/u

/** Whether the manifest with this grant parses; a refusal must be a 400 naming grants[0]. */
function accepted(grant: Record<string, unknown>): boolean {
  try {
    parseManifestObject({ task: { id: 'T-1' }, grants: [grant] })
    return true
  } catch (err) {
    expect(err).toBeInstanceOf(WritError)
    expect((err as WritError).status).toBe(400)
    expect((err as WritError).message).toMatch(/grants\[0\]\.(identifier|locations\[0\]): /)
    return false
  }
}

/** What an accepted name must never hold, however a server decodes it. */
function plain(name: string, path: string): void {
  const read = asAServerMightReadIt(path)
  expect(read.split('/').filter((s) => s === '.' || s === '..')).toEqual([])
  expect(HIDDEN.test(name)).toBe(false)
  expect(/[?#\\]/.test(name)).toBe(false)
}

describe('resource names: an accepted identifier or location is exactly as wide as it looks', () => {
  it('never accepts an identifier with a dot segment (however encoded), a query, a backslash or hidden text', () => {
    fuzzSync('identifiers', 400, nameOf, (identifier) => {
      if (!accepted({ type: 'repo', actions: ['read'], identifier })) return
      plain(identifier, identifier)
      expect(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*@/.test(identifier)).toBe(false)
    })
  })

  it('never accepts a location with a dot segment (however encoded), userinfo, a query or hidden text', () => {
    fuzzSync('locations', 400, nameOf, (path) => {
      const location = `https://git.example.com/${path}`
      if (!accepted({ type: 'repo', actions: ['read'], locations: [location] })) return
      plain(location, path)
      expect(new URL(location).username).toBe('')
    })
  })
})
