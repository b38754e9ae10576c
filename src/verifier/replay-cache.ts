/**
 * Remembers single-use values (DPoP proof `jti`s) for a fixed window. Every entry lives exactly
 * `windowMs` from when it was taken, so insertion order is expiry order and pruning only looks at
 * the oldest entries. Bounded: when `maxEntries` unexpired values are held, `take` refuses new
 * ones instead of forgetting old ones (forgetting would let a replay through).
 */
export class ReplayCache {
  readonly #until = new Map<string, number>()

  constructor(
    readonly maxEntries: number,
    readonly windowMs: number,
  ) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(`replay cache size must be a positive integer, got ${maxEntries}`)
    }
  }

  get size(): number {
    return this.#until.size
  }

  /**
   * Takes `key` at `nowMs`: `'taken'` the first time within the window, `'replayed'` when it was
   * taken before and has not expired, `'full'` when the cache cannot remember another value.
   */
  take(key: string, nowMs: number): 'taken' | 'replayed' | 'full' {
    this.#prune(nowMs)
    const until = this.#until.get(key)
    if (until !== undefined && until > nowMs) return 'replayed'
    // An expired entry the pruning has not reached yet is dropped, so it is re-added as newest.
    if (until !== undefined) this.#until.delete(key)
    if (this.#until.size >= this.maxEntries) return 'full'
    this.#until.set(key, nowMs + this.windowMs)
    return 'taken'
  }

  #prune(nowMs: number): void {
    for (const [key, until] of this.#until) {
      if (until > nowMs) return
      this.#until.delete(key)
    }
  }
}
