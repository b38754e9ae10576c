import { type CryptoKey, importJWK, type JWK, type JWTHeaderParameters } from 'jose'
import { VerifierError } from './verifier-error.js'

export interface KeyResolverOptions {
  /** A fixed key set (no fetching). Exactly one of `jwks` and `jwksUri`. */
  jwks?: { keys: JWK[] }
  /** The issuer's `jwks_uri`, fetched on first use, on an unknown `kid` and when stale. */
  jwksUri?: string
  /** The token algorithms accepted; a key is only used with one of them. */
  algorithms: readonly string[]
  fetch: typeof globalThis.fetch
  /** Milliseconds since the epoch. */
  clock: () => number
  /** Least time between two fetches caused by unknown `kid`s. */
  cooldownSeconds: number
  /** A key set older than this is refetched in the background on the next use. */
  maxAgeSeconds: number
  /** Longest wait for the key set endpoint. */
  timeoutMs: number
}

/** Resolves the key that must have signed a token, from its protected header. */
export interface KeyResolver {
  resolve(header: JWTHeaderParameters): Promise<CryptoKey>
  /** Changes whenever the content of the key set changes (a key added, removed or replaced). */
  readonly version: number
  /** Starts a background refetch when the remote set is older than its max age. */
  refreshIfStale(): void
  /**
   * The issuer announced its key set changed and now publishes exactly `kids` (a key-set message
   * on the revocation channel). Every other kid is refused from now on, and a JWKS that still
   * lists one is not believed for the next `maxAgeSeconds` (a replica or cache may serve the old
   * set a little longer); an announced kid not known yet is fetched at the next token signed by
   * it, within a second instead of the cooldown. The announcement can only take keys away: a
   * key is only ever trusted from the JWKS itself.
   */
  keepOnly(kids: readonly string[]): void
  /** Refetches the remote set now, unless a fetch started in the last second. */
  refreshSoon(): void
}

interface KeyEntry {
  kid: string
  jwk: JWK
  /** The token algorithms this key may verify. */
  algorithms: ReadonlySet<string>
  imported: Map<string, Promise<CryptoKey>>
}

/** A never-loaded remote key set is retried at most this often, whatever the cooldown. */
const FIRST_LOAD_RETRY_MS = 1000

/** Most withdrawn kids remembered at once (each announcement withdraws at most three). */
const MAX_WITHDRAWN = 64

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const

/** The algorithms a key can verify, from its `alg` or else its type and curve. */
function algorithmsFor(jwk: JWK, allowed: readonly string[]): string[] {
  if (typeof jwk.alg === 'string') return allowed.includes(jwk.alg) ? [jwk.alg] : []
  let byKey: string[] = []
  if (jwk.kty === 'EC') {
    byKey = { 'P-256': ['ES256'], 'P-384': ['ES384'], 'P-521': ['ES512'] }[jwk.crv ?? ''] ?? []
  } else if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    byKey = ['EdDSA', 'Ed25519']
  } else if (jwk.kty === 'RSA') {
    byKey = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
  }
  return byKey.filter((alg) => allowed.includes(alg))
}

/** Usable verification keys of a JWKS, by kid; the public members only. */
function entriesOf(value: unknown, allowed: readonly string[]): Map<string, KeyEntry[]> {
  if (!value || typeof value !== 'object' || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new TypeError('a JWKS must be an object with a "keys" array')
  }
  const entries = new Map<string, KeyEntry[]>()
  for (const raw of (value as { keys: unknown[] }).keys) {
    if (!raw || typeof raw !== 'object') continue
    const jwk = raw as JWK
    // Ensure only signature-verification keys with a kid are used; symmetric keys never are.
    if (typeof jwk.kid !== 'string' || jwk.kid === '') continue
    if (jwk.kty !== 'EC' && jwk.kty !== 'OKP' && jwk.kty !== 'RSA') continue
    if (jwk.use !== undefined && jwk.use !== 'sig') continue
    const ops = jwk.key_ops
    if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) continue
    const algorithms = algorithmsFor(jwk, allowed)
    if (algorithms.length === 0) continue
    // Ensure a private member in a published key set is never used (or kept).
    const publicJwk: JWK = {}
    for (const member of PUBLIC_MEMBERS) {
      if (typeof jwk[member] === 'string') publicJwk[member] = jwk[member]
    }
    const list = entries.get(jwk.kid) ?? []
    list.push({
      kid: jwk.kid,
      jwk: publicJwk,
      algorithms: new Set(algorithms),
      imported: new Map(),
    })
    entries.set(jwk.kid, list)
  }
  return entries
}

/** Forgets the entry added first (insertion order). */
function dropOldest(entries: Map<string, unknown> | Set<string>): void {
  const first = entries.keys().next()
  if (!first.done) entries.delete(first.value)
}

/** A stable description of a key set's content, to notice when it changes. */
function fingerprint(entries: Map<string, KeyEntry[]>): string {
  const keys = [...entries.values()].flat()
  return keys.map((e) => JSON.stringify([e.kid, e.jwk, [...e.algorithms]])).sort().join('\n')
}

const invalidToken = (message: string, cause?: unknown): VerifierError =>
  new VerifierError('invalid_token', message, cause === undefined ? {} : { cause })

/**
 * Resolves token signing keys from a fixed JWKS or the issuer's `jwks_uri`. A `kid` it does not
 * know makes it refetch the remote set, at most once per cooldown, so key rotation needs no
 * restart while a flood of made-up `kid`s cannot turn into a flood of fetches.
 */
export function createKeyResolver(options: KeyResolverOptions): KeyResolver {
  const { clock, algorithms } = options
  let entries: Map<string, KeyEntry[]> | undefined
  let version = 0
  let seen = ''
  let fetchedAt = -Infinity
  let lastAttempt = -Infinity
  let inflight: Promise<void> | undefined
  /** Kids an announcement withdrew, until when (ms) a JWKS listing them is not believed. */
  const withdrawn = new Map<string, number>()
  /** Kids an announcement named that the fetched set did not have yet. */
  const announced = new Set<string>()

  /** `next` without the kids an announcement withdrew (until their hold ends). */
  const withoutWithdrawn = (next: Map<string, KeyEntry[]>): Map<string, KeyEntry[]> => {
    const now = clock()
    for (const [kid, until] of withdrawn) if (until <= now) withdrawn.delete(kid)
    if (withdrawn.size === 0) return next
    return new Map([...next].filter(([kid]) => !withdrawn.has(kid)))
  }

  const adopt = (fetched: Map<string, KeyEntry[]>): void => {
    // Ensure a withdrawn kid does not come back from a JWKS served before the change reached it.
    const next = withoutWithdrawn(fetched)
    for (const kid of next.keys()) announced.delete(kid)
    const print = fingerprint(next)
    if (entries !== undefined && print === seen) return
    // Keep the imported keys of entries that did not change.
    for (const [kid, list] of next) {
      for (const entry of list) {
        const json = JSON.stringify(entry.jwk)
        const same = entries?.get(kid)?.find((old) => JSON.stringify(old.jwk) === json)
        if (same) entry.imported = same.imported
      }
    }
    entries = next
    seen = print
    version++
  }

  if (options.jwks !== undefined) adopt(entriesOf(options.jwks, algorithms))

  const fetchKeys = (): Promise<void> => {
    inflight ??= (async () => {
      lastAttempt = clock()
      const uri = options.jwksUri as string
      const response = await options.fetch(uri, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs),
      })
      if (!response.ok) throw new Error(`GET ${uri} answered ${response.status}`)
      adopt(entriesOf(await response.json(), algorithms))
      fetchedAt = clock()
    })().finally(() => {
      inflight = undefined
    })
    return inflight
  }

  const find = (kid: string, alg: string): KeyEntry | undefined => {
    const candidates = entries?.get(kid)?.filter((e) => e.algorithms.has(alg)) ?? []
    // Ensure one key answers to the kid: a key set with two such keys is ambiguous.
    if (candidates.length > 1) throw invalidToken(`the key set has several keys with kid ${kid}`)
    return candidates[0]
  }

  /** Refetches now, unless a fetch is in flight or one started in the last second. */
  const refreshSoon = (): void => {
    if (options.jwksUri === undefined || inflight) return
    if (clock() - lastAttempt < FIRST_LOAD_RETRY_MS) return
    fetchKeys().catch(() => undefined)
  }

  /** A stale set is refreshed in the background, so keys the issuer removed stop verifying. */
  const refreshIfStale = (): void => {
    if (options.jwksUri === undefined || entries === undefined || inflight) return
    const now = clock()
    if (now - fetchedAt < options.maxAgeSeconds * 1000) return
    // While the endpoint fails, retry at most once per cooldown.
    if (now - lastAttempt < options.cooldownSeconds * 1000) return
    fetchKeys().catch(() => undefined)
  }

  return {
    get version() {
      return version
    },

    refreshIfStale,

    keepOnly(kids) {
      const keep = new Set(kids)
      const until = clock() + options.maxAgeSeconds * 1000
      for (const kid of entries?.keys() ?? []) {
        if (keep.has(kid)) continue
        // Ensure the memory stays bounded whatever a flood of announcements says.
        if (withdrawn.size >= MAX_WITHDRAWN) dropOldest(withdrawn)
        withdrawn.set(kid, until)
      }
      for (const kid of keep) if (!entries?.has(kid)) announced.add(kid)
      while (announced.size > MAX_WITHDRAWN) dropOldest(announced)
      if (entries === undefined) return
      const next = withoutWithdrawn(entries)
      if (next.size !== entries.size) {
        // Ensure tokens of a withdrawn key stop verifying now, remembered ones included (version).
        entries = next
        seen = fingerprint(next)
        version++
      }
      // Fetch the announced keys ahead of their first token (at most once a second).
      if (announced.size > 0) refreshSoon()
    },

    refreshSoon,

    async resolve(header) {
      // Ensure the token cannot choose where its key comes from (RFC 8725 §3.10).
      for (const name of ['jku', 'x5u', 'jwk', 'x5c'] as const) {
        if (header[name] !== undefined) {
          throw invalidToken(`the token must not carry a ${name} header`)
        }
      }
      // Ensure no critical extension is asked for: none is understood here.
      if (header.crit !== undefined) throw invalidToken('the token must not carry a crit header')
      const { kid, alg } = header
      if (typeof kid !== 'string' || kid === '') throw invalidToken('the token header has no kid')
      if (typeof alg !== 'string') throw invalidToken('the token header has no alg')

      let entry: KeyEntry | undefined
      if (options.jwksUri === undefined) {
        entry = find(kid, alg)
      } else {
        const now = clock()
        const cooldownMs = options.cooldownSeconds * 1000
        const soon = entries === undefined || announced.has(kid)
        const wait = soon ? Math.min(FIRST_LOAD_RETRY_MS, cooldownMs) : cooldownMs
        entry = entries === undefined ? undefined : find(kid, alg)
        // Ensure an unknown kid refetches the key set (rotation), but at most once per cooldown.
        if (entry === undefined && (now - lastAttempt >= wait || inflight)) {
          try {
            await fetchKeys()
          } catch (cause) {
            if (entries === undefined) {
              throw invalidToken('the issuer\'s signing keys could not be fetched', cause)
            }
          }
          entry = find(kid, alg)
        } else if (entry !== undefined) {
          refreshIfStale()
        }
      }
      if (entry === undefined) {
        const which = `kid ${JSON.stringify(kid)}, alg ${alg}`
        throw invalidToken(`the token was signed with an unknown key (${which})`)
      }

      let imported = entry.imported.get(alg)
      if (imported === undefined) {
        const jwk = { ...entry.jwk, alg }
        imported = importJWK(jwk, alg, { extractable: false }) as Promise<CryptoKey>
        entry.imported.set(alg, imported)
      }
      try {
        return await imported
      } catch (cause) {
        entry.imported.delete(alg)
        throw invalidToken(`key ${kid} cannot verify ${alg}`, cause)
      }
    },
  }
}
