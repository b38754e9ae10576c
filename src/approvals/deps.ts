import type { Auditor } from '../audit/create-auditor.js'
import type { Clock } from '../clock.js'
import type { LockStore } from '../locks/store.js'
import type { Logger } from '../logger.js'
import type { Policy } from '../policy/index.js'
import type { AttestationPolicy } from './enrolment/check-attestation.js'
import type { ApprovalNotifier } from './requests/notify-approvers.js'
import type { ApprovalStore } from './store/store.js'

/** Settings of human approval, resolved from the broker config (see `approvals` in config.ts). */
export interface ApprovalSettings {
  /** Base of the approval and enrolment URLs: the broker's issuer. */
  baseUrl: string
  /** WebAuthn relying party id (a registrable domain; never an IP address). */
  rpId: string
  /** Shown by authenticators and browsers. */
  rpName: string
  /** The origin approvers' browsers run the ceremonies on. */
  origin: string
  /** Life of an approval request. */
  timeoutSeconds: number
  /** The CIBA polling interval given to clients. */
  pollIntervalSeconds: number
  /** Life of one WebAuthn challenge (capped by the request's expiry). */
  challengeTtlSeconds: number
  /** Life of an enrolment invite. */
  inviteTtlSeconds: number
  /** How long approval evidence is kept after the token is minted. */
  evidenceRetentionSeconds: number
}

/** What the approval operations need, all passed in. */
export interface ApprovalDeps {
  store: ApprovalStore
  /** The policy in force (read when needed, never kept: it changes live). */
  policy: () => Policy
  clock: Clock
  settings: ApprovalSettings
  attestation: AttestationPolicy
  /** Announces new approval requests to approver groups (signed webhooks). */
  notifier: ApprovalNotifier
  logger: Logger
  /** Locks: a locked client, task or approver gets no approval request, vote or collection. */
  locks: Pick<LockStore, 'findLock'>
  /**
   * The audit trail: requests, each approver's decision, refused assertions of enrolled keys,
   * expiries, invites, enrolments and flagged keys. An approval is `record`ed (durable before the
   * approver is told it counted); the rest is `note`d.
   */
  audit: Pick<Auditor, 'record' | 'note'>
}
