import type { Manifest } from '../manifest/types.js'
import type { ApprovalRequirement, ProvenPerson } from '../policy/index.js'

/*
 * The approvals data model. Times named `...At` are seconds since the epoch (as grants use);
 * binary WebAuthn values are base64url strings, exactly as they travel in JSON.
 */

/**
 * Where an approval request stands. Expiry is not a state: it is decided by the clock.
 * `revoked`: a revocation (or a vote that no longer counts) ended it before a token was collected.
 */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'redeemed' | 'revoked'

/** A manifest waiting for (or past) a human decision. Immutable once stored. */
export interface ApprovalRequest {
  /** The approval id: in the approval URL, the challenge and the token's `approval.id`. */
  id: string
  clientId: string
  /** Lowercase hex SHA-256 of the secret half of the `auth_req_id`; the secret is never stored. */
  secretSha256: string
  /** The normalized manifest, exactly as its hash was computed. */
  manifest: Manifest
  manifestSha256: string
  /** The token's life as decided when the request was made (shown to approvers). */
  ttlSeconds: number
  /** What policy requires, one entry per rule; empty when nothing needs a human (CIBA). */
  requirements: ApprovalRequirement[]
  /** RFC 7638 thumbprint of the DPoP key the request was made with, if any. */
  cnfJkt?: string
  /**
   * The person a trusted identity provider proved (token exchange with an ID token): the token
   * collected is theirs (`sub`), with the client as `act`; `manifest.task.requested_by` is their id.
   */
  person?: ProvenPerson
  createdAt: number
  expiresAt: number
  /** The CIBA polling interval the client was given, in seconds. */
  intervalSeconds: number
}

/** One approver's signed approval: the evidence that this person's key approved this request. */
export interface ApprovalVote {
  /** The approver (as the policy's approver group lists them). */
  sub: string
  credentialId: string
  aaguid: string
  /** Attestation format the key was enrolled with (`packed`, `tpm`, `fido-u2f`, or `none` in dev mode). */
  fmt: string
  /** The credential public key, COSE_Key, base64url. */
  publicKey: string
  /** The challenge inputs that are not part of the request itself. */
  nonce: string
  /** Expiry of the challenge, seconds since the epoch (a challenge input). */
  exp: number
  /** The raw assertion, base64url. */
  authenticatorData: string
  clientDataJSON: string
  signature: string
  userHandle?: string
  /** The signature counter the assertion carried. */
  counter: number
  at: number
}

/** Who denied a request, and with which key. */
export interface ApprovalDenial {
  sub: string
  credentialId: string
  at: number
}

/** Why an approval request was ended before its token was collected. */
export interface ApprovalRevocation {
  /** `admin`: a revocation; `system`: the votes left can no longer meet the policy. */
  by: 'admin' | 'system'
  reason: string
  /** Seconds since the epoch. */
  at: number
}

/** An approval request with its current state, as the store returns it. */
export interface ApprovalRecord {
  request: ApprovalRequest
  status: ApprovalStatus
  /** Approvals so far, in the order they were recorded. */
  votes: ApprovalVote[]
  denial?: ApprovalDenial
  /**
   * Why it was ended (status `revoked`); on a `redeemed` request, a revocation that reached it
   * while or after its token was minted (the redeemer then revokes that grant).
   */
  revocation?: ApprovalRevocation
  /**
   * SHA-256s (hex) of the `auth_req_id` secrets handed to identical requests of the same client
   * that joined this one while it was pending; each collects it as the first secret does.
   */
  joinedSecrets?: string[]
}

/** A challenge handed out for one ceremony on one approval request; single-use. */
export interface StoredChallenge {
  /** The challenge itself, base64url (the SHA-256 of the canonical challenge input). */
  challenge: string
  nonce: string
  /** Seconds since the epoch; after it the challenge is void. */
  exp: number
  /** Which decision the ceremony was started for. */
  action: 'approve' | 'deny'
}

/** Why a key may no longer be used. */
export interface CredentialFlag {
  /** `counter_regression`: a cloned key; `disabled`: an admin disabled it (lost or stolen). */
  reason: 'counter_regression' | 'disabled'
  /** Seconds since the epoch. */
  at: number
  detail: string
}

/** An enrolled security key. */
export interface ApproverCredential {
  /** WebAuthn credential id, base64url. */
  id: string
  /** The approver it belongs to. */
  sub: string
  /** The approver group the enrolment invite named. */
  group: string
  /** COSE_Key, base64url. */
  publicKey: string
  /** Signature counter at enrolment. The store tracks the current value separately. */
  counter: number
  aaguid: string
  /** Attestation statement format. */
  fmt: string
  /** `verified`: the chain anchors in a configured trust anchor; `relaxed`: accepted in dev mode. */
  attestation: 'verified' | 'relaxed'
  /** The raw attestation object, base64url: enough to re-check the attestation later. */
  attestationObject: string
  /** WebAuthn user handle given at enrolment, base64url. */
  userHandle: string
  transports?: string[]
  enrolledAt: number
}

/** An enrolled key with its live state. */
export interface ApproverCredentialState extends ApproverCredential {
  /** The latest signature counter seen. */
  currentCounter: number
  flagged?: CredentialFlag
}

/** A one-time enrolment invite. The token itself is never stored, only its SHA-256. */
export interface EnrolmentInvite {
  /** Lowercase hex SHA-256 of the invite token. */
  tokenSha256: string
  sub: string
  group: string
  createdBy: string
  createdAt: number
  expiresAt: number
}

/** A registration challenge for one invite. */
export interface RegistrationChallenge {
  challenge: string
  userHandle: string
  exp: number
}

/**
 * What is kept, per minted approval, so anyone can later re-check offline that each approver's
 * key signed a challenge recomputed from this exact manifest (`verifyApprovalEvidence`).
 */
export interface ApprovalEvidence {
  version: 1
  approvalId: string
  clientId: string
  manifest: Manifest
  manifestSha256: string
  requirements: ApprovalRequirement[]
  /** The WebAuthn relying party the assertions were made for. */
  rpId: string
  origin: string
  votes: ApprovalVote[]
  /** When the approval was redeemed for a token, seconds since the epoch. */
  redeemedAt: number
}
