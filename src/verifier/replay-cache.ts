interface Entry {
  /** The owner (a DPoP key thumbprint) whose budget the entry counts against. */
  owner: string
  untilMs: number
}

/**
 * Remembers single-use values (DPoP proof `jti`s) for a fixed window, budgeted per owner (the
 * proof key's thumbprint). Every entry lives exactly `windowMs` from when it was taken, so
 * insertion order is expiry order and pruning only looks at the oldest entries.
 *
 * Bounded twice, and never by forgetting (forgetting would let a replay through): an owner holding
 * `maxPerOwner` unexpired values has its new values refused until its own old ones age out, so one
 * key holder that floods the cache only locks itself out; and `maxEntries` caps the memory of the
 * whole cache, which takes `maxEntries / maxPerOwner` owners flooding at once to reach.
 */
export class ReplayCache {
  readonly #entries = new Map<string, Entry>()
  readonly #perOwner = new Map<string, number>()

  constructor(
    readonly maxEntries: number,
    readonly windowMs: number,
    readonly maxPerOwner: number = maxEntries,
  ) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(`replay cache size must be a positive integer, got ${maxEntries}`)
    }
    if (!Number.isSafeInteger(maxPerOwner) || maxPerOwner < 1) {
      throw new TypeError(`replay cache size per key must be a positive integer, got ${maxPerOwner}`)
    }
  }

  get size(): number {
    return this.#entries.size
  }

  /** Unexpired values `owner` holds (as of the last `take`). */
  heldBy(owner: string): number {
    return this.#perOwner.get(owner) ?? 0
  }

  /**
   * Takes `value` for `owner` at `nowMs`: `'taken'` the first time within the window,
   * `'replayed'` when it was taken before and has not expired, `'full'` when the owner has used
   * its budget or the cache cannot remember another value.
   */
  take(owner: string, value: string, nowMs: number): 'taken' | 'replayed' | 'full' {
    this.#prune(nowMs)
    const key = `${owner}\u0000${value}`
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.untilMs > nowMs) return 'replayed'
    // An expired entry the pruning has not reached yet is dropped, so it is re-added as newest.
    if (entry !== undefined) this.#remove(key, entry)
    const held = this.heldBy(owner)
    if (held >= this.maxPerOwner || this.#entries.size >= this.maxEntries) return 'full'
    this.#entries.set(key, { owner, untilMs: nowMs + this.windowMs })
    this.#perOwner.set(owner, held + 1)
    return 'taken'
  }

  #remove(key: string, entry: Entry): void {
    this.#entries.delete(key)
    const held = (this.#perOwner.get(entry.owner) ?? 1) - 1
    if (held <= 0) this.#perOwner.delete(entry.owner)
    else this.#perOwner.set(entry.owner, held)
  }

  #prune(nowMs: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.untilMs > nowMs) return
      this.#remove(key, entry)
    }
  }
}
