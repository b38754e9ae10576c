import type { KeySetMessage } from '../wire/revocation-message.js'

export interface StoredKeySet {
  /** Monotonic version, for compare-and-set between broker replicas. */
  version: number
  /** Opaque to the store: the tokens module's serialized (encrypted) key set. */
  data: string
}

/**
 * Where replicas sharing signing keys (`keys.source: store`) keep the sealed key set: the port of
 * `tokens/` in the store layer. Memory and Redis implementations beside it pass one contract
 * suite (`test/tokens/key-set-store-contract.ts`).
 */
export interface KeySetStore {
  getKeySet(): Promise<StoredKeySet | null>

  /**
   * Compare-and-set of the key set: writes `data` as version `expectedVersion + 1` (or 1 when
   * `expectedVersion` is null and none exists). False when another replica won the race.
   * `announcement`, when given, is published on the revocation feed in the same atomic step as
   * a write that succeeded (never when the compare-and-set failed), so no key-set change goes
   * unannounced.
   */
  putKeySet(
    data: string,
    expectedVersion: number | null,
    announcement?: KeySetMessage,
  ): Promise<boolean>
}

