interface Entry<V> {
  value: V
  expiresAtMs: number
}

/**
 * A bounded map whose entries expire: at most `maxEntries` entries, the least recently used
 * evicted first, and an entry past its expiry is never returned. Times come from the caller, so
 * the cache follows whatever clock the verifier was given.
 */
export class ExpiringLru<V> {
  readonly #entries = new Map<string, Entry<V>>()

  /**
   * @param onRemove told of every entry that leaves the map except through `clear()`: evicted,
   *   expired, deleted or replaced.
   */
  constructor(
    readonly maxEntries: number,
    private readonly onRemove?: (key: string, value: V) => void,
  ) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
      throw new TypeError(`cache size must be a non-negative integer, got ${maxEntries}`)
    }
  }

  get size(): number {
    return this.#entries.size
  }

  /** The value while it has not expired at `nowMs`; a hit becomes the most recently used. */
  get(key: string, nowMs: number): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAtMs <= nowMs) {
      this.#entries.delete(key)
      this.onRemove?.(key, entry.value)
      return undefined
    }
    // Map iteration follows insertion order: re-inserting makes this entry the newest.
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    return entry.value
  }

  set(key: string, value: V, expiresAtMs: number): void {
    if (this.maxEntries === 0) return
    this.delete(key)
    if (this.#entries.size >= this.maxEntries) {
      this.delete(this.#entries.keys().next().value as string)
    }
    this.#entries.set(key, { value, expiresAtMs })
  }

  delete(key: string): void {
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    this.#entries.delete(key)
    this.onRemove?.(key, entry.value)
  }

  clear(): void {
    this.#entries.clear()
  }
}
