export type {
  ApprovalDenial,
  ApprovalEvidence,
  ApprovalRecord,
  ApprovalRequest,
  ApprovalStatus,
  ApprovalVote,
  ApproverCredential,
  ApproverCredentialState,
  EnrolmentInvite,
} from './types.js'
export type { ApprovalDeps, ApprovalSettings } from './deps.js'
export type { ApprovalStore } from './store.js'
export { approvalChallenge, type ApprovalChallengeInput } from './approval-challenge.js'
export { createApprovals, type Approvals, type CreateApprovalsOptions } from './create-approvals.js'
export { createMemoryApprovalStore } from './memory-store.js'
export { createRedisApprovalStore } from './redis-store.js'
export { createApprovalRequest } from './create-approval-request.js'
export { startBackchannelRequest } from './start-backchannel-request.js'
export { redeemApproval } from './redeem-approval.js'
export { getApprovalView, type ApprovalView } from './get-approval-view.js'
export { startApprovalCeremony } from './start-approval-ceremony.js'
export { submitApprovalAssertion, type ApprovalProgress } from './submit-approval-assertion.js'
export { createEnrolmentInvite, type CreatedInvite } from './create-enrolment-invite.js'
export { findInvite } from './find-invite.js'
export { startEnrolment } from './start-enrolment.js'
export { completeEnrolment, type EnrolledKey } from './complete-enrolment.js'
export { checkAttestation, type AttestationPolicy } from './check-attestation.js'
export { loadTrustAnchors, type TrustAnchors } from './load-trust-anchors.js'
export { verifyCertificateChain } from './verify-certificate-chain.js'
export {
  verifyApprovalEvidence,
  type AnchoredKey,
  type EvidenceVerification,
  type VerifyApprovalEvidenceOptions,
} from './verify-approval-evidence.js'
export {
  verifyApprovalFromChain,
  type ChainApprovalVerification,
  type VerifyApprovalFromChainOptions,
} from './verify-approval-from-chain.js'
export { verifyEnrolmentRecord, type EnrolmentRecord } from './verify-enrolment-record.js'
export { coseKeyThumbprint } from './cose-key-thumbprint.js'
export { createApprovalNotifier, SIGNATURE_HEADER, webhookSignature } from './notify-approvers.js'
export { requirementsMet } from './requirements-met.js'
