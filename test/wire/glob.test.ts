import { describe, expect, it } from 'vitest'
import { globMatch, patternCovers } from '../../src/wire/glob.js'

describe('globMatch', () => {
  it('matches literals exactly', () => {
    expect(globMatch('docs/readme.md', 'docs/readme.md')).toBe(true)
    expect(globMatch('docs/readme.md', 'docs/readme.mdx')).toBe(false)
    expect(globMatch('docs/readme.md', 'Docs/readme.md')).toBe(false)
    expect(globMatch('', '')).toBe(true)
    expect(globMatch('', 'a')).toBe(false)
  })

  it('lets * match any run without a slash, including an empty one', () => {
    expect(globMatch('docs/*', 'docs/a.md')).toBe(true)
    expect(globMatch('docs/*', 'docs/')).toBe(true)
    expect(globMatch('docs/*', 'docs/a/b.md')).toBe(false)
    expect(globMatch('docs/*.md', 'docs/a.md')).toBe(true)
    expect(globMatch('docs/*.md', 'docs/a.txt')).toBe(false)
    expect(globMatch('https://git.example.com/acme/*', 'https://git.example.com/acme/app')).toBe(true)
    expect(globMatch('https://git.example.com/acme/*', 'https://git.example.com/acme/app/../../evil')).toBe(false)
    expect(globMatch('https://*.example.com/', 'https://evil.com/.example.com/')).toBe(false)
  })

  it('lets ** match any run including slashes', () => {
    expect(globMatch('docs/**', 'docs/a/b/c.md')).toBe(true)
    expect(globMatch('docs/**', 'docs/')).toBe(true)
    expect(globMatch('docs/**', 'docs')).toBe(false)
    expect(globMatch('docs/**', 'src/docs/a')).toBe(false)
    expect(globMatch('**/*.md', 'a/b/c.md')).toBe(true)
    expect(globMatch('**', '')).toBe(true)
    expect(globMatch('a/**/z', 'a/b/c/z')).toBe(true)
    expect(globMatch('a/**/z', 'a/z')).toBe(false)
  })

  it('treats three or more stars as **', () => {
    expect(globMatch('docs/***', 'docs/a/b')).toBe(true)
    expect(globMatch('docs/*****', 'docs/a/b')).toBe(true)
  })

  it('treats a star in the value as a literal character', () => {
    expect(globMatch('docs/a.md', 'docs/*')).toBe(false)
    expect(globMatch('docs/*', 'docs/*')).toBe(true)
  })

  it('stays fast on adversarial inputs', () => {
    const started = Date.now()
    const pattern = `${'*a'.repeat(1000)}*b`
    expect(globMatch(pattern, 'a'.repeat(2000))).toBe(false)
    expect(globMatch('**a'.repeat(500), `${'a'.repeat(2047)}b`)).toBe(false)
    expect(globMatch(`${'*/'.repeat(500)}x`, '/'.repeat(2048))).toBe(false)
    expect(globMatch(`${'*'.repeat(1024)}`, 'a'.repeat(4096))).toBe(true)
    expect(Date.now() - started).toBeLessThan(2000)
  })
})

describe('patternCovers', () => {
  it('covers the same pattern', () => {
    for (const p of ['docs/**', 'docs/*', 'docs/a.md', '*', '**', '', 'a*b**c']) expect(patternCovers(p, p), p).toBe(true)
  })

  it('lets rule ** cover any requested pattern under its prefix', () => {
    expect(patternCovers('docs/**', 'docs/**')).toBe(true)
    expect(patternCovers('docs/**', 'docs/a/*.md')).toBe(true)
    expect(patternCovers('docs/**', 'docs/*')).toBe(true)
    expect(patternCovers('docs/**', 'docs/a/b/c.md')).toBe(true)
    expect(patternCovers('docs/**', 'docs/**/x/**')).toBe(true)
    expect(patternCovers('docs/**', '**')).toBe(false)
    expect(patternCovers('docs/**', 'doc*/**')).toBe(false)
    expect(patternCovers('docs/**', 'docs')).toBe(false)
    expect(patternCovers('**', 'anything/**/at/*/all')).toBe(true)
  })

  it('lets rule * cover only requested runs without / or **', () => {
    expect(patternCovers('docs/*', 'docs/*')).toBe(true)
    expect(patternCovers('docs/*', 'docs/a.md')).toBe(true)
    expect(patternCovers('docs/*', 'docs/*.md')).toBe(true)
    expect(patternCovers('docs/*', 'docs/a*b*')).toBe(true)
    expect(patternCovers('docs/*', 'docs/**')).toBe(false)
    expect(patternCovers('docs/*', 'docs/a/b')).toBe(false)
    expect(patternCovers('docs/*', 'docs/*/b')).toBe(false)
    expect(patternCovers('docs/*', 'docs/***')).toBe(false)
  })

  it('requires literals to equal literals: a requested wildcard never covers a rule literal', () => {
    expect(patternCovers('docs/a.md', 'docs/*')).toBe(false)
    expect(patternCovers('docs/*.md', 'docs/*')).toBe(false)
    expect(patternCovers('docs/*.md', 'docs/*.md')).toBe(true)
    expect(patternCovers('docs/*.md', 'docs/x*.md')).toBe(true)
    expect(patternCovers('*.md', '*')).toBe(false)
    expect(patternCovers('a*', '*a')).toBe(false)
  })

  it('covers locations with host and path wildcards', () => {
    const rule = 'https://git.example.com/acme/*'
    expect(patternCovers(rule, 'https://git.example.com/acme/app')).toBe(true)
    expect(patternCovers(rule, 'https://git.example.com/acme/*')).toBe(true)
    expect(patternCovers(rule, 'https://git.example.com/acme/**')).toBe(false)
    expect(patternCovers(rule, 'https://git.example.com/acme/app/x')).toBe(false)
    expect(patternCovers(rule, 'https://git.example.com/acme')).toBe(false)
    expect(patternCovers(rule, 'https://git.example.com/*/app')).toBe(false)
    expect(patternCovers('https://*.example.com/', 'https://api.example.com/')).toBe(true)
    expect(patternCovers('https://*.example.com/', 'https://*.example.com/')).toBe(true)
    expect(patternCovers('https://*.example.com/', 'https://**.example.com/')).toBe(false)
  })

  it('agrees with globMatch on concrete values', () => {
    const patterns = ['docs/**', 'docs/*', '*/b', 'a**', '**/x', 'a*b*c', 'x', '']
    const values = ['docs/a', 'docs/a/b', 'a/b', 'abc', 'aXbYc', 'q/x', 'x', '', 'docs/']
    for (const p of patterns) {
      for (const v of values) expect(patternCovers(p, v), `${p} vs ${v}`).toBe(globMatch(p, v))
    }
  })

  it('is sound: whenever it says yes, sample expansions of the request match the rule', () => {
    const expansions = (pattern: string): string[] => {
      const fills = { star: ['', 'x', 'xyz'], globstar: ['', 'x', 'x/y', '/'] }
      let out = ['']
      const parts = pattern.split(/(\*\*+|\*)/)
      for (const part of parts) {
        const choices = part.startsWith('**') ? fills.globstar : part === '*' ? fills.star : [part]
        out = out.flatMap((prefix) => choices.map((c) => prefix + c)).slice(0, 500)
      }
      return out
    }
    const rules = ['docs/**', 'docs/*', 'docs/*.md', '*', '**', 'a*b', 'a/**/b', '*/*']
    const requests = ['docs/*', 'docs/**', 'docs/x.md', 'docs/*.md', 'a*b', 'ab', 'a/b', 'a/*/b', '*', 'x/y']
    for (const rule of rules) {
      for (const request of requests) {
        if (!patternCovers(rule, request)) continue
        for (const value of expansions(request)) expect(globMatch(rule, value), `${rule} ⊇ ${request}: ${value}`).toBe(true)
      }
    }
  })

  it('stays fast on adversarial requested patterns', () => {
    const started = Date.now()
    expect(patternCovers(`x${'*a'.repeat(1000)}`, `x${'*a'.repeat(999)}*b`)).toBe(false)
    expect(patternCovers('**a'.repeat(500), `*${'a'.repeat(2047)}`)).toBe(true)
    expect(patternCovers(`${'**a'.repeat(500)}**`, `*${'a'.repeat(499)}${'b'.repeat(1500)}`)).toBe(false)
    expect(patternCovers(`${'*/'.repeat(1000)}`, '*/'.repeat(1024))).toBe(false)
    expect(Date.now() - started).toBeLessThan(2000)
  })
})
