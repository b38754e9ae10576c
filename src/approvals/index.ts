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
export type { ApprovalStore } from './store/store.js'
export { approvalChallenge, type ApprovalChallengeInput } from './ceremony/approval-challenge.js'
export { createApprovals, type Approvals, type CreateApprovalsOptions } from './create-approvals.js'
export { createMemoryApprovalStore } from './store/memory-store.js'
export { createRedisApprovalStore } from './store/redis-store.js'
export { createApprovalRequest } from './requests/create-approval-request.js'
export { startBackchannelRequest } from './requests/start-backchannel-request.js'
export { redeemApproval } from './requests/redeem-approval.js'
export { getApprovalView, type ApprovalView } from './requests/get-approval-view.js'
export { startApprovalCeremony } from './ceremony/start-approval-ceremony.js'
export { submitApprovalAssertion, type ApprovalProgress } from './ceremony/submit-approval-assertion.js'
export { createEnrolmentInvite, type CreatedInvite } from './enrolment/create-enrolment-invite.js'
export { findInvite } from './enrolment/find-invite.js'
export { startEnrolment } from './enrolment/start-enrolment.js'
export { completeEnrolment, type EnrolledKey } from './enrolment/complete-enrolment.js'
export { checkAttestation, type AttestationPolicy } from './enrolment/check-attestation.js'
export { loadTrustAnchors, type TrustAnchors } from './enrolment/load-trust-anchors.js'
export { verifyCertificateChain } from './enrolment/verify-certificate-chain.js'
export {
  verifyApprovalEvidence,
  type AnchoredKey,
  type EvidenceVerification,
  type VerifyApprovalEvidenceOptions,
} from './evidence/verify-approval-evidence.js'
export {
  verifyApprovalFromChain,
  type ChainApprovalVerification,
  type VerifyApprovalFromChainOptions,
} from './evidence/verify-approval-from-chain.js'
export { verifyEnrolmentRecord, type EnrolmentRecord } from './enrolment/verify-enrolment-record.js'
export { coseKeyThumbprint } from './enrolment/cose-key-thumbprint.js'
export { createApprovalNotifier, SIGNATURE_HEADER, webhookSignature } from './requests/notify-approvers.js'
export { requirementsMet } from './requests/requirements-met.js'
