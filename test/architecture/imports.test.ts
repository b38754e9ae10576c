import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

/**
 * The dependency rules of `src/`, read from the import statements of every file (static imports,
 * `import type`, `export … from` and dynamic `import()`), so the layout stays true without anyone
 * remembering it. A module is a folder directly under `src/` (`grants/`) or a file at its root
 * (`config.ts`).
 */

const SRC = resolve(import.meta.dirname, '../../src')

interface Import {
  /** The importing file, relative to src/ (`grants/issue-grant.ts`). */
  from: string
  /** The specifier as written. */
  specifier: string
  /** `import type` / `export type`: erased from the compiled JavaScript. */
  typeOnly: boolean
  /** For a relative specifier, the imported file relative to src/; undefined for a package. */
  file?: string
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** Every module specifier a file imports or re-exports, types included. */
function specifiers(path: string): Array<{ specifier: string; typeOnly: boolean }> {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true)
  const found: Array<{ specifier: string; typeOnly: boolean }> = []
  const visit = (node: ts.Node): void => {
    if (
      ts.isImportDeclaration(node) &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const typeOnly = node.importClause?.isTypeOnly ?? false
      found.push({ specifier: node.moduleSpecifier.text, typeOnly })
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly })
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push({ specifier: node.arguments[0].text, typeOnly: false })
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const literal = node.argument.literal
      if (ts.isStringLiteral(literal)) found.push({ specifier: literal.text, typeOnly: true })
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const toPosix = (path: string): string => path.split(sep).join('/')

const imports: Import[] = sourceFiles(SRC).flatMap((path) => {
  const from = toPosix(relative(SRC, path))
  return specifiers(path).map(({ specifier, typeOnly }): Import => {
    if (!specifier.startsWith('.')) return { from, specifier, typeOnly }
    const target = resolve(dirname(path), specifier).replace(/\.js$/, '.ts')
    return { from, specifier, typeOnly, file: toPosix(relative(SRC, target)) }
  })
})

/** The module a src/-relative file belongs to: its top folder (`grants/`) or itself (`config.ts`). */
const moduleOf = (file: string): string => {
  const slash = file.indexOf('/')
  return slash < 0 ? file : file.slice(0, slash + 1)
}

/** The package a bare specifier names (`jose`, `@aws-sdk/client-sts`, `node:crypto`). */
const packageOf = (specifier: string): string => {
  if (specifier.startsWith('node:')) return 'node:'
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

/** `file → specifier` for every import of `module` that `allowed` refuses. */
function breaches(module: string, allowed: (i: Import) => boolean): string[] {
  return imports
    .filter((i) => moduleOf(i.from) === module && !allowed(i))
    .map((i) => `${i.from} → ${i.specifier}`)
}

/**
 * Relative imports within `modules`, packages in `packages` (`node:` for node builtins), and types
 * only from `typePackages`.
 */
const only =
  (modules: readonly string[], packages: readonly string[], typePackages: readonly string[] = []) =>
  (i: Import): boolean => {
    if (i.file !== undefined) return modules.includes(moduleOf(i.file))
    const name = packageOf(i.specifier)
    return packages.includes(name) || (i.typeOnly && typePackages.includes(name))
  }

/** Module → the other modules it imports. */
function moduleGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>()
  for (const i of imports) {
    const from = moduleOf(i.from)
    if (!graph.has(from)) graph.set(from, new Set())
    if (i.file === undefined) continue
    const to = moduleOf(i.file)
    if (to !== from) graph.get(from)!.add(to)
  }
  return graph
}

/** Strongly connected components (Tarjan): modules that reach each other through imports. */
function components(graph: Map<string, Set<string>>): Map<string, number> {
  const component = new Map<string, number>()
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  let next = 0
  let count = 0
  const connect = (v: string): void => {
    index.set(v, next)
    low.set(v, next)
    next++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!))
      }
    }
    if (low.get(v) === index.get(v)) {
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.set(w, count)
      } while (w !== v)
      count++
    }
  }
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v)
  return component
}

/** Every import edge between two modules that lies on a loop (both ends reach each other). */
function loopEdges(): string[] {
  const graph = moduleGraph()
  const component = components(graph)
  const edges: string[] = []
  for (const [from, targets] of graph) {
    for (const to of targets) {
      if (component.get(from) === component.get(to)) edges.push(`${from} → ${to}`)
    }
  }
  return edges.sort()
}

describe('dependency rules of src/', () => {
  it('reads the imports of every file, and every relative import names a file that exists', () => {
    const modules = new Set(imports.map((i) => moduleOf(i.from)))
    for (const module of ['wire/', 'verifier/', 'client/', 'grants/', 'server/', 'cli/', 'broker.ts']) {
      expect(modules).toContain(module)
    }
    expect(imports.length).toBeGreaterThan(500)
    const missing = imports
      .filter((i) => i.file !== undefined && !existsSync(join(SRC, i.file)))
      .map((i) => `${i.from} → ${i.specifier}`)
    expect(missing).toEqual([])
    // The parser sees type-only imports and re-exports too.
    const verifierIndex = imports.filter((i) => i.from === 'verifier/index.ts').map((i) => i.specifier)
    expect(verifierIndex).toContain('../wire/claims-digest.js')
  })

  it('no domain module imports server/ or cli/ (only broker.ts, the composition root, builds the app)', () => {
    const refused = imports
      .filter((i) => i.file !== undefined)
      .filter((i) => {
        const from = moduleOf(i.from)
        const to = moduleOf(i.file!)
        if (to === 'server/') return from !== 'server/' && from !== 'broker.ts'
        if (to === 'cli/') return from !== 'cli/'
        return false
      })
      .map((i) => `${i.from} → ${i.specifier}`)
    expect(refused).toEqual([])
  })

  it('wire/, the contract of broker and verifiers, imports nothing but node: modules', () => {
    expect(breaches('wire/', only(['wire/'], ['node:']))).toEqual([])
  })

  it('verifier/ imports only wire/ and its libraries (jose, ioredis; hono types for its middleware)', () => {
    const allowed = only(['verifier/', 'wire/'], ['node:', 'jose', 'ioredis'], ['hono'])
    expect(breaches('verifier/', allowed)).toEqual([])
  })

  it('client/ imports nothing from other src folders and no node: module (jose only: fetch and WebCrypto serve)', () => {
    expect(breaches('client/', only(['client/'], ['jose']))).toEqual([])
  })

  it('no module loop: no two modules reach each other through imports', () => {
    expect(loopEdges()).toEqual([])
  })

  it('finds a loop when there is one (the check above can fail)', () => {
    const graph = new Map([
      ['a/', new Set(['b/'])],
      ['b/', new Set(['c/'])],
      ['c/', new Set(['a/'])],
      ['d/', new Set(['a/'])],
    ])
    const component = components(graph)
    expect(component.get('a/')).toBe(component.get('c/'))
    expect(component.get('d/')).not.toBe(component.get('a/'))
  })

  it('ioredis is imported only by the store layer (store/) and the Redis adapters beside each port (redis-*.ts), and the verifier', () => {
    const refused = imports
      .filter((i) => i.file === undefined && packageOf(i.specifier) === 'ioredis')
      .filter((i) => {
        if (moduleOf(i.from) === 'store/' || moduleOf(i.from) === 'verifier/') return false
        return !/(^|\/)redis-[a-z-]+\.ts$/.test(i.from)
      })
      .map((i) => `${i.from} → ${i.specifier}`)
    expect(refused).toEqual([])
    // The rule sees the adapters it allows.
    const adapters = imports.filter((i) => packageOf(i.specifier) === 'ioredis').map((i) => i.from)
    expect(adapters).toContain('grants/redis-store.ts')
    expect(adapters).toContain('store/redis-backend.ts')
  })

  it('server/ receives finished services: it constructs no store, authenticator, limiter of clients or DPoP check', () => {
    const builders = [
      'open-store.ts',
      'store/redis-backend.ts',
      'store/memory-backend.ts',
      'dpop/token-endpoint-dpop.ts',
      'client-auth/rate-limit-clients.ts',
      'client-auth/audit-client-authentication.ts',
      'admin/create-admin-authenticator.ts',
    ]
    const refused = imports
      .filter((i) => moduleOf(i.from) === 'server/' && !i.typeOnly && i.file !== undefined)
      .filter((i) => builders.includes(i.file!))
      .map((i) => `${i.from} → ${i.specifier}`)
    expect(refused).toEqual([])
  })

  it('node: is how builtins are imported (a bare builtin name would slip past the rules above)', () => {
    const bare = imports
      .filter((i) => i.file === undefined && builtinModules.includes(packageOf(i.specifier)))
      .map((i) => `${i.from} → ${i.specifier}`)
    expect(bare).toEqual([])
  })
})
