import type { ClientAuthenticator } from '../clients/index.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { IssueGrantDeps } from '../grants/issue-grant.js'
import type { GrantStore } from '../grants/store.js'
import type { Logger } from '../logger.js'
import type { Policy } from '../policy/index.js'
import type { KeyManager } from '../tokens/index.js'

/** Everything the HTTP layer needs, built by main.ts (or a test) and passed in. */
export interface AppDeps {
  config: Config
  policy: Policy
  store: GrantStore
  keys: KeyManager
  clients: ClientAuthenticator
  clock: Clock
  logger: Logger
  /** The OpenAPI document served at /openapi.yaml. */
  openapi: string
  /** Derived: what issuance and token inspection need. */
  issue: IssueGrantDeps
}

export type AppDepsInput = Omit<AppDeps, 'issue'>

export function withDerived(input: AppDepsInput): AppDeps {
  return {
    ...input,
    issue: {
      policy: input.policy,
      store: input.store,
      keys: input.keys,
      issuer: input.config.issuer,
      tokens: input.config.tokens,
      clock: input.clock,
    },
  }
}
