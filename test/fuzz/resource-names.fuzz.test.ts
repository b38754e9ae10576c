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
  // Other spellings of dots and separators: path parameters, overlong UTF-8, IIS %u, NFKC.
  ';', '..;', ';x=1', '%3b', '%', '%c0%ae', '%c0%af', '%e0%80%ae', '%u002e', '%u002f', '%c3%a9', '\u00e9',
  '\u2025', '\uff0e', '\uff0f', '\ufe52', '%e2%80%a5', '%ef%bc%8e', '%e2%80%8b',
]
const nameOf = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 8 }).map((parts) => parts.join(''))

/** Decodes one run of %XX escapes as UTF-8 leniently, reading overlong forms as their character. */
function lenientUtf8(run: string): string {
  const bytes = run.slice(1).split('%').map((hex) => parseInt(hex, 16))
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b >= 0xc0 && b < 0xe0 && i + 1 < bytes.length) {
      out += String.fromCharCode(((b & 0x1f) << 6) | (bytes[++i]! & 0x3f))
    } else if (b >= 0xe0 && b < 0xf0 && i + 2 < bytes.length) {
      out += String.fromCharCode(((b & 0x0f) << 12) | ((bytes[++i]! & 0x3f) << 6) | (bytes[++i]! & 0x3f))
    } else {
      out += String.fromCharCode(b)
    }
  }
  return out
}

/**
 * The path as the most lenient server might read it: %XX decoded (overlong UTF-8 too) and IIS
 * %uXXXX, until nothing changes (a server may decode more than once); Unicode NFKC; \ read as /.
 */
function asAServerMightReadIt(name: string): string {
  let out = name
  for (let i = 0; i < 4; i++) {
    const next = out
      .replace(/%u([0-9a-f]{4})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
      .replace(/(?:%[0-9a-f]{2})+/gi, lenientUtf8)
      .normalize('NFKC')
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
  // A segment's path parameters (`..;x`) are dropped by servers that read them: `..;x` is `..`.
  expect(read.split('/').map((s) => s.split(';', 1)[0]).filter((s) => s === '.' || s === '..')).toEqual([])
  expect(HIDDEN.test(name)).toBe(false)
  expect(/[?#\\]/.test(name)).toBe(false)
}

describe('resource names: an accepted identifier or location is exactly as wide as it looks', () => {
  it('never accepts an identifier with a dot segment (however spelled or encoded), a query, a backslash or hidden text', () => {
    fuzzSync('identifiers', 400, nameOf, (identifier) => {
      if (!accepted({ type: 'repo', actions: ['read'], identifier })) return
      plain(identifier, identifier)
      expect(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*@/.test(identifier)).toBe(false)
    })
  })

  it('never accepts a location with a dot segment (however spelled or encoded), userinfo, a query or hidden text', () => {
    fuzzSync('locations', 400, nameOf, (path) => {
      const location = `https://git.example.com/${path}`
      if (!accepted({ type: 'repo', actions: ['read'], locations: [location] })) return
      plain(location, path)
      expect(new URL(location).username).toBe('')
    })
  })
})
