import type { ApprovalDeps } from '../deps.js'
import type { InboxStore } from './store.js'

/** What the approver inbox needs, all passed in. */
export interface InboxDeps {
  store: InboxStore
  /**
   * The approvals module: policy, clock, the WebAuthn relying party, enrolled keys, pending
   * requests, locks, audit. A sign-in is an assertion by an enrolled key, checked as approvals
   * check theirs.
   */
  approvals: ApprovalDeps
  /** Life of a session from its sign-in (`approvals.inboxSessionSeconds`). */
  sessionSeconds: number
}
