import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

describe('SECURITY.md', () => {
  it('names only tests that exist, and every guarantee row names one', () => {
    const text = readFileSync(new URL('../SECURITY.md', import.meta.url), 'utf8')
    const named = [...text.matchAll(/`(test\/[^`]+)`/g)].map((m) => m[1]!)
    expect(named.length).toBeGreaterThan(50)
    for (const path of new Set(named)) expect(existsSync(new URL(`../${path}`, import.meta.url)), path).toBe(true)
    // A guarantee row is a table row under a "writ guarantees | proved by" header.
    let inGuarantees = false
    for (const line of text.split('\n')) {
      if (line.startsWith('| writ guarantees |')) inGuarantees = true
      else if (!line.startsWith('|')) inGuarantees = false
      else if (inGuarantees && !line.startsWith('|---')) expect(line, 'a guarantee names its test').toMatch(/\| `test\/[^`]+`[^|]*\|$/)
    }
  })
})
