interface Entry {
  /** The owner (a DPoP key thumbprint) whose budget the entry counts against. */
  owner: string
  /** The owner's group (the token's client), whose budget it counts against too. */
  group: string
  untilMs: number
}

/**
 * Remembers single-use values (DPoP proof `jti`s) for a fixed window, budgeted per owner (the
 * proof key's thumbprint). Every entry lives exactly `windowMs` from when it was taken, so
 * insertion order is expiry order and pruning only looks at the oldest entries.
 *
 * Bounded three times, and never by forgetting (forgetting would let a replay through): an owner
 * holding `maxPerOwner` unexpired values has its new values refused until its own old ones age
 * out, so one key holder that floods the cache only locks itself out; a group (one client, however
 * many keys it binds tokens to) holding `maxPerGroup` has its owners' new values refused likewise;
 * and `maxEntries` caps the memory of the whole cache, which takes `maxEntries / maxPerGroup`
 * groups flooding at once to reach.
 */
export class ReplayCache {
  readonly #entries = new Map<string, Entry>()
  readonly #perOwner = new Map<string, number>()
  readonly #perGroup = new Map<string, number>()

  constructor(
    readonly maxEntries: number,
    readonly windowMs: number,
    readonly maxPerOwner: number = maxEntries,
    readonly maxPerGroup: number = maxEntries,
  ) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(`replay cache size must be a positive integer, got ${maxEntries}`)
    }
    if (!Number.isSafeInteger(maxPerOwner) || maxPerOwner < 1) {
      throw new TypeError(`replay cache size per key must be a positive integer, got ${maxPerOwner}`)
    }
    if (!Number.isSafeInteger(maxPerGroup) || maxPerGroup < 1) {
      throw new TypeError(`replay cache size per client must be a positive integer, got ${maxPerGroup}`)
    }
  }

  get size(): number {
    return this.#entries.size
  }

  /** Unexpired values `owner` holds (as of the last `take`). */
  heldBy(owner: string): number {
    return this.#perOwner.get(owner) ?? 0
  }

  /** Unexpired values the owners of `group` hold together (as of the last `take`). */
  heldByGroup(group: string): number {
    return this.#perGroup.get(group) ?? 0
  }

  /**
   * Takes `value` for `owner` (of `group`) at `nowMs`: `'taken'` the first time within the
   * window, `'replayed'` when it was taken before and has not expired, `'full'` when the owner or
   * its group has used its budget or the cache cannot remember another value.
   */
  take(owner: string, value: string, nowMs: number, group = owner): 'taken' | 'replayed' | 'full' {
    this.#prune(nowMs)
    const key = `${owner}\u0000${value}`
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.untilMs > nowMs) return 'replayed'
    // An expired entry the pruning has not reached yet is dropped, so it is re-added as newest.
    if (entry !== undefined) this.#remove(key, entry)
    const held = this.heldBy(owner)
    const heldByGroup = this.heldByGroup(group)
    if (held >= this.maxPerOwner || heldByGroup >= this.maxPerGroup) return 'full'
    if (this.#entries.size >= this.maxEntries) return 'full'
    this.#entries.set(key, { owner, group, untilMs: nowMs + this.windowMs })
    this.#perOwner.set(owner, held + 1)
    this.#perGroup.set(group, heldByGroup + 1)
    return 'taken'
  }

  #remove(key: string, entry: Entry): void {
    this.#entries.delete(key)
    const held = (this.#perOwner.get(entry.owner) ?? 1) - 1
    if (held <= 0) this.#perOwner.delete(entry.owner)
    else this.#perOwner.set(entry.owner, held)
    const heldByGroup = (this.#perGroup.get(entry.group) ?? 1) - 1
    if (heldByGroup <= 0) this.#perGroup.delete(entry.group)
    else this.#perGroup.set(entry.group, heldByGroup)
  }

  #prune(nowMs: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.untilMs > nowMs) return
      this.#remove(key, entry)
    }
  }
}
