/** Documented exit codes (README, `writ --help`). */
export const EXIT = { ok: 0, error: 1, usage: 2, denied: 3, expired: 4 } as const

/** A failure the CLI reports as one line naming what to fix, with its exit code. */
export class CliError extends Error {
  override readonly name = 'CliError'
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message)
  }
}
