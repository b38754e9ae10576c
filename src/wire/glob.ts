/**
 * Globs for grant identifiers and locations. `*` matches any run of characters except `/`; `**`
 * matches any run including `/` (three or more stars mean the same as two). Every other character
 * is literal; there is no escaping. Matching is a dynamic program over pattern × input — at most
 * O(n·m) steps, no regular expressions built from input, no backtracking blow-up.
 *
 * Part of the wire contract (`src/wire/`): the broker's policy grants patterns with these rules and
 * `writ/verifier`'s `authorize` matches a token's patterns with the same ones.
 */

const STAR = -1
const GLOBSTAR = -2
const SLASH = 0x2f

// Rule patterns come from the policy (a bounded set), so their tokens are computed once.
const RULE_CACHE_LIMIT = 4096
const ruleTokens = new Map<string, Int32Array>()

/** Tokens of a policy pattern, memoized. */
function tokenizeRule(pattern: string): Int32Array {
  let tokens = ruleTokens.get(pattern)
  if (!tokens) {
    tokens = tokenize(pattern)
    if (ruleTokens.size >= RULE_CACHE_LIMIT) ruleTokens.clear()
    ruleTokens.set(pattern, tokens)
  }
  return tokens
}

/** A pattern as tokens: UTF-16 code units for literals, STAR or GLOBSTAR for wildcards. */
function tokenize(pattern: string): Int32Array {
  const tokens = new Int32Array(pattern.length)
  let n = 0
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i)
    if (c !== 0x2a) {
      tokens[n++] = c
      continue
    }
    let run = 1
    while (pattern.charCodeAt(i + 1) === 0x2a) {
      run++
      i++
    }
    const token = run === 1 ? STAR : GLOBSTAR
    const previous = n > 0 ? tokens[n - 1] : undefined
    // `*` next to `**` adds nothing; keep one `**` so the table stays small.
    if (previous === GLOBSTAR) continue
    if (previous === STAR && token === GLOBSTAR) tokens[n - 1] = GLOBSTAR
    else tokens[n++] = token
  }
  return tokens.subarray(0, n)
}

/** The characters of a concrete value, all literal (a `*` in a value is just a `*`). */
function literals(value: string): Int32Array {
  const tokens = new Int32Array(value.length)
  for (let i = 0; i < value.length; i++) tokens[i] = value.charCodeAt(i)
  return tokens
}

/**
 * Whether rule tokens cover subject tokens. A rule literal covers the same literal; a rule STAR
 * covers any run of subject tokens none of which is `/` or GLOBSTAR (a subject STAR is fine: it
 * never produces `/`); a rule GLOBSTAR covers any run. Sound: if this says yes, every string the
 * subject can produce is matched by the rule.
 */
function covers(fullRule: Int32Array, fullSubject: Int32Array): boolean {
  // Literal prefixes and suffixes must agree one to one; strip them so the table covers only the
  // part between the first and last wildcard (usually a handful of rule tokens).
  let start = 0
  let ruleEnd = fullRule.length
  let subjectEnd = fullSubject.length
  while (start < ruleEnd && fullRule[start]! >= 0) {
    if (start >= subjectEnd || fullSubject[start] !== fullRule[start]) return false
    start++
  }
  while (ruleEnd > start && fullRule[ruleEnd - 1]! >= 0) {
    if (subjectEnd <= start || fullSubject[subjectEnd - 1] !== fullRule[ruleEnd - 1]) return false
    ruleEnd--
    subjectEnd--
  }
  const rule = fullRule.subarray(start, ruleEnd)
  const subject = fullSubject.subarray(start, subjectEnd)
  const m = subject.length
  // row[j]: the rule tokens consumed so far cover subject[0..j).
  let row = new Uint8Array(m + 1)
  let next = new Uint8Array(m + 1)
  row[0] = 1
  for (const token of rule) {
    if (token === GLOBSTAR) {
      next[0] = row[0]!
      for (let j = 1; j <= m; j++) next[j] = row[j]! | next[j - 1]!
    } else if (token === STAR) {
      next[0] = row[0]!
      for (let j = 1; j <= m; j++) {
        const s = subject[j - 1]!
        next[j] = row[j]! | (next[j - 1]! & (s !== SLASH && s !== GLOBSTAR ? 1 : 0))
      }
    } else {
      next[0] = 0
      for (let j = 1; j <= m; j++) next[j] = row[j - 1]! & (subject[j - 1] === token ? 1 : 0)
    }
    ;[row, next] = [next, row]
    // Nothing covered so far: nothing later can be.
    if (row.indexOf(1) === -1) return false
  }
  return row[m] === 1
}

/**
 * Whether a concrete value (an identifier or location taken from a token) matches a pattern.
 *
 * @example
 * globMatch('docs/**', 'docs/a/b.md') // true
 * globMatch('docs/*', 'docs/a/b.md') // false
 */
export function globMatch(pattern: string, value: string): boolean {
  return covers(tokenize(pattern), literals(value))
}

/**
 * Whether a rule pattern covers a requested pattern: every string the requested pattern can
 * match is matched by the rule pattern. The requested side's wildcards are treated as tokens:
 * the rule's `**` covers any run of them, the rule's `*` covers a run without `/` or `**`, and a
 * literal covers only the same literal. When unsure, the answer is no.
 *
 * @example
 * patternCovers('docs/**', 'docs/a/*.md') // true
 * patternCovers('docs/*', 'docs/**') // false: `**` can reach docs/a/b
 */
export function patternCovers(rulePattern: string, requestedPattern: string): boolean {
  return covers(tokenizeRule(rulePattern), tokenize(requestedPattern))
}
