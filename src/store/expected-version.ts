/** The `expectedVersion` of a compare-and-set write: null (nothing stored yet) or a version. */
export function assertExpectedVersion(expectedVersion: number | null): void {
  if (expectedVersion !== null && (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0)) {
    throw new RangeError('expectedVersion must be null or a non-negative integer')
  }
}
