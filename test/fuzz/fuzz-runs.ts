import fc from 'fast-check'

/**
 * Cases per property: `base` in the normal suite (kept small: CI shares two cores), or
 * `FUZZ_RUNS` for a long local session (`npm run test:fuzz:long`, which also lifts the per-test
 * timeout: `FUZZ_RUNS=N npx vitest run test/fuzz --testTimeout=0`).
 */
export function fuzzRuns(base: number): number {
  const fromEnv = Number(process.env.FUZZ_RUNS)
  return Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : base
}

/**
 * Runs an async property for {@link fuzzRuns} cases and prints how many ran
 * (`fuzz: <name> ran <n> cases`). A failure throws fast-check's report with the shrunk input.
 */
export async function fuzz<T>(
  name: string,
  base: number,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => Promise<void>,
): Promise<number> {
  let ran = 0
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      ran++
      await check(value)
    }),
    { numRuns: fuzzRuns(base), endOnFailure: true },
  )
  console.log(`fuzz: ${name} ran ${ran} cases`)
  return ran
}

/** The same for a synchronous property. */
export function fuzzSync<T>(name: string, base: number, arbitrary: fc.Arbitrary<T>, check: (value: T) => void): number {
  let ran = 0
  fc.assert(
    fc.property(arbitrary, (value) => {
      ran++
      check(value)
    }),
    { numRuns: fuzzRuns(base), endOnFailure: true },
  )
  console.log(`fuzz: ${name} ran ${ran} cases`)
  return ran
}

/** Text that looks like what a hostile client sends: ASCII, Unicode, control characters. */
export const hostileText = (maxLength = 200): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.constantFrom('', ' ', '\u0000', 'null', '[]', '{}', '__proto__', 'constructor', '%00', '../..', '\uFEFF'),
  )

/** A JSON-ish value, including prototype-reaching keys. */
export const hostileJson = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'type', 'grants', 'task'), fc.jsonValue({ maxDepth: 2 })),
  )
