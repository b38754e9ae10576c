const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `condition` every `everyMs` (20) until it holds, and returns how many milliseconds that
 * took; throws naming `what` once `boundMs` (10 s) have passed without it. For effects that reach
 * another process or connection (a revocation message, a replica's refresh), never for timing.
 */
export async function eventually(
  what: string,
  condition: () => Promise<boolean> | boolean,
  options: { boundMs?: number; everyMs?: number } = {},
): Promise<number> {
  const { boundMs = 10_000, everyMs = 20 } = options
  const started = Date.now()
  for (;;) {
    if (await condition()) return Date.now() - started
    if (Date.now() - started > boundMs) throw new Error(`still not true after ${boundMs} ms: ${what}`)
    await sleep(everyMs)
  }
}
