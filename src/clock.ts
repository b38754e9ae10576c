/** Milliseconds since the Unix epoch. Every time-dependent function takes one, so tests freeze time. */
export type Clock = () => number

export const systemClock: Clock = () => Date.now()

/** Whole seconds since the epoch, as JWT NumericDate claims use. */
export const epochSeconds = (clock: Clock): number => Math.floor(clock() / 1000)

/** A clock tests can move by hand. */
export function manualClock(startMs = Date.UTC(2026, 0, 1)): Clock & {
  advance(ms: number): void
  set(ms: number): void
} {
  let now = startMs
  const clock = (() => now) as Clock & { advance(ms: number): void; set(ms: number): void }
  clock.advance = (ms) => {
    now += ms
  }
  clock.set = (ms) => {
    now = ms
  }
  return clock
}
