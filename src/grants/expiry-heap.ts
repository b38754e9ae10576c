/**
 * A min-heap of `(expiresAtMs, id)`: the order in which a client's grants expire, so the embedded
 * store can drop expired grants and find the earliest expiry without walking every grant. Entries
 * are never removed out of order; one whose grant is gone (revoked) is left in place and skipped
 * when it reaches the top (the caller checks it against the grant map).
 */
export class ExpiryHeap {
  private readonly at: number[] = []
  private readonly ids: string[] = []

  get size(): number {
    return this.at.length
  }

  push(expiresAtMs: number, id: string): void {
    const { at, ids } = this
    let i = at.length
    at.push(expiresAtMs)
    ids.push(id)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (at[parent]! <= expiresAtMs) break
      at[i] = at[parent]!
      ids[i] = ids[parent]!
      i = parent
    }
    at[i] = expiresAtMs
    ids[i] = id
  }

  /** The earliest entry, or undefined when empty. */
  peek(): { expiresAtMs: number; id: string } | undefined {
    return this.at.length === 0 ? undefined : { expiresAtMs: this.at[0]!, id: this.ids[0]! }
  }

  /** Removes the earliest entry. */
  pop(): void {
    const { at, ids } = this
    const lastAt = at.pop()
    const lastId = ids.pop()
    if (at.length === 0 || lastAt === undefined || lastId === undefined) return
    let i = 0
    const n = at.length
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && at[right]! < at[left]! ? right : left
      if (at[child]! >= lastAt) break
      at[i] = at[child]!
      ids[i] = ids[child]!
      i = child
    }
    at[i] = lastAt
    ids[i] = lastId
  }
}
