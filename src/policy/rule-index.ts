import type { AuthorizationDetail } from '../manifest/types.js'
import { matchRule } from './match-rule.js'
import type { Policy, PolicyRule } from './types.js'

/**
 * The rules one client may use, indexed so that finding the first rule (in file order) that
 * covers a grant does not try every rule.
 *
 * Why the index is exact: `matchRule` requires the grant's `type` to equal the rule's, every grant
 * location to be covered by one of the rule's location patterns, and the grant's identifier to be
 * covered by the rule's identifier pattern. A pattern covers a value or pattern only if that value
 * starts with the pattern's literal prefix (the characters before its first `*`; see
 * `wire/glob.ts`: literal prefixes must agree one to one, and a `*` on the requested side never
 * equals a literal). So a rule can cover a grant only if, for the grant's first location, one of
 * the rule's location prefixes is a prefix of it, and the rule's identifier prefix is a prefix of
 * the grant's identifier. The index finds the rules passing either prefix test by walking a trie
 * of prefixes along the grant's string, takes the dimension with fewer candidates, and runs the
 * full `matchRule` on those candidates in file order. The first that matches is the answer the
 * linear scan would give, since every rule it skips could not have matched.
 */
export interface ClientRuleIndex {
  /**
   * The first rule, in file order, that covers `grant` (and that `accept` accepts, when given:
   * the person conditions); undefined when none does.
   */
  firstMatch(grant: AuthorizationDetail, accept?: (rule: PolicyRule) => boolean): PolicyRule | undefined
}

/** A trie node: the rules (positions in the client's list) whose prefix ends here. */
interface TrieNode {
  children: Map<number, TrieNode> | undefined
  /** Ascending positions. */
  rules: number[]
}

const newNode = (): TrieNode => ({ children: undefined, rules: [] })

/** The characters of `pattern` before its first `*`. */
const literalPrefix = (pattern: string): string => {
  const star = pattern.indexOf('*')
  return star === -1 ? pattern : pattern.slice(0, star)
}

function insert(root: TrieNode, prefix: string, position: number): void {
  let node = root
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix.charCodeAt(i)
    node.children ??= new Map()
    let child = node.children.get(c)
    if (!child) {
      child = newNode()
      node.children.set(c, child)
    }
    node = child
  }
  // A rule with two location patterns sharing a prefix is listed once per node.
  if (node.rules[node.rules.length - 1] !== position) node.rules.push(position)
}

/** The rule lists of every node on `value`'s path: the rules whose prefix `value` starts with. */
function walk(root: TrieNode, value: string): { lists: number[][]; size: number } {
  const lists: number[][] = []
  let size = 0
  let node: TrieNode | undefined = root
  for (let i = 0; ; i++) {
    if (node.rules.length > 0) {
      lists.push(node.rules)
      size += node.rules.length
    }
    if (i === value.length || node.children === undefined) break
    node = node.children.get(value.charCodeAt(i))
    if (node === undefined) break
  }
  return { lists, size }
}

/** The rules of one grant type. */
interface TypeBucket {
  /** Rules by their location patterns' prefixes; rules without locations sit at the root. */
  locations: TrieNode
  /** Rules by their identifier pattern's prefix; rules without an identifier sit at the root. */
  identifiers: TrieNode
}

/** Merges ascending lists into one ascending list without duplicates. */
function mergeAscending(lists: number[][]): number[] {
  if (lists.length === 1) return lists[0]!
  const all = lists.flat().sort((a, b) => a - b)
  const out: number[] = []
  for (const position of all) if (out[out.length - 1] !== position) out.push(position)
  return out
}

function buildIndex(rules: readonly PolicyRule[]): ClientRuleIndex {
  const buckets = new Map<string, TypeBucket>()
  rules.forEach((rule, position) => {
    let bucket = buckets.get(rule.match.type)
    if (!bucket) {
      bucket = { locations: newNode(), identifiers: newNode() }
      buckets.set(rule.match.type, bucket)
    }
    const locations = rule.match.locations ?? ['']
    for (const pattern of locations) insert(bucket.locations, literalPrefix(pattern), position)
    insert(bucket.identifiers, literalPrefix(rule.match.identifier ?? ''), position)
  })

  return {
    firstMatch(grant, accept) {
      const bucket = typeof grant.type === 'string' ? buckets.get(grant.type) : undefined
      if (!bucket) return undefined
      const locations = Array.isArray(grant.locations) ? grant.locations : []
      const first = locations[0]
      // No location: only rules without location patterns can match, and they sit at the root.
      const byLocation =
        typeof first === 'string' ? walk(bucket.locations, first) : walk(bucket.locations, '')
      const identifier = typeof grant.identifier === 'string' ? grant.identifier : ''
      const byIdentifier = walk(bucket.identifiers, identifier)
      const narrower = byLocation.size <= byIdentifier.size ? byLocation : byIdentifier
      for (const position of mergeAscending(narrower.lists)) {
        const rule = rules[position]!
        if (matchRule(rule, grant).matched && (accept === undefined || accept(rule))) return rule
      }
      return undefined
    },
  }
}

const EMPTY: ClientRuleIndex = { firstMatch: () => undefined }

/** Per policy object, per client: built on first use, dropped with the policy. */
const cache = new WeakMap<Policy, Map<string, ClientRuleIndex>>()

/**
 * The rule index of `clientId` under `policy` (the rules the client may use, in file order).
 * Built once per policy object and client; a client the policy does not know gets an index that
 * matches nothing.
 */
export function clientRuleIndex(policy: Policy, clientId: string): ClientRuleIndex {
  let perClient = cache.get(policy)
  if (!perClient) {
    perClient = new Map()
    cache.set(policy, perClient)
  }
  let index = perClient.get(clientId)
  if (!index) {
    const client = policy.clients.get(clientId)
    if (!client) return EMPTY
    const allowed = new Set(client.rules)
    index = buildIndex(policy.rules.filter((rule) => allowed.has(rule.id)))
    perClient.set(clientId, index)
  }
  return index
}
