import { LineCounter, isScalar, parseDocument, visit } from 'yaml'

/** YAML that is malformed or uses a feature writ refuses. Every problem names its line. */
export class YamlSyntaxError extends Error {
  override readonly name = 'YamlSyntaxError'
  constructor(readonly problems: string[]) {
    super(problems.join('; '))
  }
}

export interface ParseSafeYamlOptions {
  /** Limit on alias expansion (yaml's `maxAliasCount`), against "billion laughs". Default 50. */
  maxAliasCount?: number
}

const MAX_PROBLEMS = 20

/**
 * Parses untrusted YAML 1.2 to plain data, safely: the core schema only (no `!!binary`, no merge
 * keys), no explicit tags at all, mapping keys must be scalars, duplicate keys and a second
 * document are errors, warnings are errors, and alias expansion is capped.
 *
 * @throws YamlSyntaxError listing every problem with its line and column.
 */
export function parseSafeYaml(text: string, options: ParseSafeYamlOptions = {}): unknown {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    schema: 'core',
    version: '1.2',
    merge: false,
    uniqueKeys: true,
    strict: true,
    stringKeys: false,
  })
  const problems: string[] = []
  const at = (offset: number | undefined): string => {
    if (offset === undefined) return ''
    const { line, col } = lineCounter.linePos(offset)
    return ` at line ${line}, column ${col}`
  }
  const add = (message: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(message)
  }

  // Ensure the text is well-formed YAML with unique keys and a single document.
  for (const error of [...doc.errors, ...doc.warnings]) {
    // Tags are refused below, once per tag, whether they resolve or not.
    if (error.code === 'TAG_RESOLVE_FAILED') continue
    const reason =
      error.code === 'MULTIPLE_DOCS'
        ? 'expected a single document, found more than one'
        : error.code === 'DUPLICATE_KEY'
          ? 'duplicate key'
          : firstLine(error.message)
    add(`${reason}${at(error.pos[0])}`)
  }
  visit(doc, {
    Node(_, node) {
      // Ensure no tag can make the parser build anything but plain data (!!binary, custom tags).
      if (node.tag !== undefined) add(`tags are not allowed (${node.tag})${at(node.range?.[0])}`)
    },
    Pair(_, pair) {
      // Ensure keys are plain scalars; a collection key has no faithful object form.
      if (!isScalar(pair.key)) {
        const range = (pair.key as { range?: [number, number, number] } | null)?.range
        add(`mapping keys must be plain scalars${at(range?.[0])}`)
      }
    },
  })
  if (problems.length > 0) throw new YamlSyntaxError(problems)

  try {
    // Ensure aliases cannot expand into an exponentially large value.
    return doc.toJS({ maxAliasCount: options.maxAliasCount ?? 50 })
  } catch (err) {
    if (err instanceof ReferenceError) {
      throw new YamlSyntaxError([`too many aliases (${firstLine(err.message)})`])
    }
    throw new YamlSyntaxError([err instanceof Error ? firstLine(err.message) : 'cannot be read'])
  }
}

function firstLine(message: string): string {
  const first = message.split('\n')[0] ?? message
  return first.replace(/:$/, '').replace(/ at line \d+, column \d+$/, '')
}
