/**
 * What a verifier reports as it works, for a service to put in its own metrics registry. Plain
 * callbacks: the verifier depends on no metrics library (prom-client, OpenTelemetry) — the service
 * wires these to whichever it uses (docs/observability.md shows prom-client).
 */
export interface VerifierMetrics {
  /** One verification ended: `ok`, or the error code it was refused with (`token_revoked`, ...). */
  verification?(outcome: string): void
  /**
   * A cache was asked: `token` (signatures checked once per token) or `liveness` (grants confirmed
   * live, `redis` and `introspection` modes); `hit` when it answered.
   */
  cacheLookup?(cache: 'token' | 'liveness', hit: boolean): void
}

/** Counts of what a verifier reported, by outcome and by cache. */
export interface VerifierCounters {
  /** Pass as `createVerifier({ metrics })`. */
  readonly metrics: Required<VerifierMetrics>
  /** Verifications by outcome (`ok` or an error code), since creation. */
  readonly verifications: Readonly<Record<string, number>>
  /** Cache lookups by cache, answered (`hits`) or not (`misses`), since creation. */
  readonly cache: Readonly<Record<'token' | 'liveness', { hits: number; misses: number }>>
}

/**
 * Counters to pass as a verifier's `metrics` and read from a metrics collector.
 *
 * @example
 * ```ts
 * const counters = createVerifierCounters()
 * const verifier = createVerifier({ ...options, metrics: counters.metrics })
 * // at scrape: counters.verifications.ok, counters.cache.token.hits, verifier.status()
 * ```
 */
export function createVerifierCounters(): VerifierCounters {
  const verifications: Record<string, number> = Object.create(null) as Record<string, number>
  const cache = { token: { hits: 0, misses: 0 }, liveness: { hits: 0, misses: 0 } }
  return {
    metrics: {
      verification(outcome) {
        verifications[outcome] = (verifications[outcome] ?? 0) + 1
      },
      cacheLookup(which, hit) {
        if (hit) cache[which].hits++
        else cache[which].misses++
      },
    },
    verifications,
    cache,
  }
}
