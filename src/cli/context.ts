import { readFileSync } from 'node:fs'
import { CliError, EXIT } from './cli-error.js'
import type { Output } from './output.js'

type Env = Record<string, string | undefined>

/** What every command gets: where the broker is, how to ask for secrets, where to write. */
export interface CliContext {
  env: Env
  out: Output
  /** `--url` or `WRIT_URL`, without a trailing slash. */
  brokerUrl(): string
  /**
   * A secret named by an environment variable, else read from stdin (`--stdin`), else a hidden
   * prompt on a TTY. Never from a flag: flags end up in shell history and process listings.
   */
  secret(envName: string, what: string): Promise<string>
  fetch: typeof fetch
}

export function createContext(options: {
  env: Env
  out: Output
  url?: string
  stdinSecret?: boolean
  fetch?: typeof fetch
  readStdin?: () => string
  prompt?: (question: string) => Promise<string>
}): CliContext {
  const { env, out } = options
  const readStdin = options.readStdin ?? (() => readFileSync(0, 'utf8'))
  return {
    env,
    out,
    fetch: options.fetch ?? fetch,
    brokerUrl() {
      const raw = options.url ?? env.WRIT_URL
      if (!raw) throw new CliError('no broker URL: pass --url or set WRIT_URL (e.g. http://localhost:8080)', EXIT.usage)
      let url: URL
      try {
        url = new URL(raw)
      } catch {
        throw new CliError(`broker URL ${JSON.stringify(raw)} is not a URL (e.g. http://localhost:8080)`, EXIT.usage)
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new CliError(`broker URL must be http(s), got ${url.protocol}`, EXIT.usage)
      }
      return url.toString().replace(/\/+$/, '')
    },
    async secret(envName, what) {
      const fromEnv = env[envName]
      if (fromEnv) return fromEnv
      if (options.stdinSecret) {
        const text = readStdin().split(/\r?\n/, 1)[0]?.trim() ?? ''
        if (!text) throw new CliError(`no ${what} on stdin`, EXIT.usage)
        return text
      }
      if (out.tty && options.prompt) {
        const answer = (await options.prompt(`${what}: `)).trim()
        if (answer) return answer
      }
      throw new CliError(`no ${what}: set ${envName}, or pipe it with --stdin`, EXIT.usage)
    },
  }
}
