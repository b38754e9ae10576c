/**
 * Every relative link in the product documentation resolves: the file it names exists, and the
 * anchor it names is a heading of that file (GitHub's heading ids). A section moved between files
 * breaks the links into it here, not for a reader.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '../..')

/** The documents checked: the README, the threat model, docs/ and the deployment guide. */
const documents = [
  'README.md',
  'SECURITY.md',
  'deploy/README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]

/** Markdown text outside fenced code blocks and inline code spans, where links are links. */
function prose(markdown: string): string {
  return markdown
    .replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '')
    .replace(/`[^`\n]*`/g, '')
}

/** GitHub's id for a heading: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function headingIds(markdown: string): Set<string> {
  const ids = new Set<string>()
  const seen = new Map<string, number>()
  const withoutFences = markdown.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '')
  for (const [, text] of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = text!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    ids.add(n === 0 ? base : `${base}-${n}`)
  }
  return ids
}

/** The relative link targets in a document: `[text](target)`, external and mail links left out. */
function relativeLinks(markdown: string): string[] {
  const targets = [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!)
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t))
}

describe('documentation links', () => {
  it('checks the documents it means to', () => {
    expect(documents).toEqual(expect.arrayContaining(['README.md', 'SECURITY.md', 'docs/design.md']))
  })

  for (const doc of documents) {
    it(`every relative link and anchor in ${doc} resolves`, () => {
      const text = readFileSync(join(root, doc), 'utf8')
      const broken: string[] = []
      for (const target of relativeLinks(text)) {
        const [path, anchor] = target.split('#') as [string, string | undefined]
        const file = path === '' ? join(root, doc) : resolve(dirname(join(root, doc)), path)
        if (!existsSync(file)) {
          broken.push(`${target}: no file ${relative(root, file)}`)
          continue
        }
        if (anchor === undefined || !file.endsWith('.md')) continue
        if (!headingIds(readFileSync(file, 'utf8')).has(anchor)) {
          broken.push(`${target}: no heading #${anchor} in ${relative(root, file)}`)
        }
      }
      expect(broken).toEqual([])
    })
  }

  it('computes heading ids as GitHub does', () => {
    const ids = headingIds('# The `writ` CLI\n## DPoP-bound tokens (RFC 9449)\n## Locks\n### Locks\n```\n# not a heading\n```\n')
    expect([...ids]).toEqual(['the-writ-cli', 'dpop-bound-tokens-rfc-9449', 'locks', 'locks-1'])
  })
})
