/**
 * Single-use markers: what makes a DPoP proof, a client assertion, an approval challenge or an
 * assertion's jti usable once across every replica. Its port: consumers see only this.
 */
export interface OnceStore {
  /**
   * True the first time `(scope, id)` is consumed, false on every later call until `ttlSeconds`
   * have passed. Atomic across replicas (SET NX). `ttlSeconds` is a positive integer (RangeError
   * otherwise).
   */
  consumeOnce(scope: string, id: string, ttlSeconds: number): Promise<boolean>
}

/** `consumeOnce`'s ttl must be a whole number of seconds, at least 1 (as Redis EX requires). */
export function assertTtlSeconds(ttlSeconds: number): void {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new RangeError(`ttlSeconds must be a positive integer, got ${ttlSeconds}`)
  }
}
