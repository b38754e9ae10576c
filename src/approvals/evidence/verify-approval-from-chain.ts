import type { JWK } from 'jose'
import { verifyChain, type ChainVerification } from '../../audit/verify-chain.js'
import type { Policy } from '../../policy/index.js'
import type { TrustAnchors } from '../enrolment/load-trust-anchors.js'
import type { ApprovalEvidence } from '../types.js'
import {
  verifyApprovalEvidence,
  type AnchoredKey,
  type VoteVerification,
} from './verify-approval-evidence.js'
import { verifyEnrolmentRecord, type EnrolmentRecord } from '../enrolment/verify-enrolment-record.js'

export interface VerifyApprovalFromChainInput {
  /** The grant (the token's jti) whose approval is checked. */
  grantId: string
  /** The approval evidence (`GET /admin/approvals/{id}/evidence`): trusted for nothing. */
  evidence: ApprovalEvidence
  /**
   * An audit export in JSON Lines (`writ audit export`), sealed, that holds the grant's
   * `grant.issued` event and, before it, the `approver.enrolled` event of every approver's key:
   * in practice, the log from seq 1 (concatenated archived exports verify as one).
   */
  chain: string | readonly string[]
}

export interface VerifyApprovalFromChainOptions {
  /** Keys trusted to sign the chain's checkpoints and seals (see `verifyChain`). */
  jwks: JWK[] | { keys: JWK[] }
  /** When given, every checkpoint and seal must carry this `iss`. */
  issuer?: string
  /** The auditor's attestation trust anchors (`loadTrustAnchors`, from local files). */
  trust: TrustAnchors
  /** Authenticator models the auditor accepts (lowercase AAGUIDs); absent: any anchored model. */
  allowedAaguids?: ReadonlySet<string>
  /** When given, also check the approvers meet each rule under this policy's approver groups. */
  policy?: Policy
}

/** One approver key as the chain records it. */
export interface ChainKey {
  credentialId: string
  /** From its `approver.enrolled` event; null when the chain has none before the grant. */
  approver: string | null
  enrolledAtSeq: number | null
  /** RFC 7638 thumbprint of the recorded key, as the event states it. */
  thumbprint: string | null
  /** Why the record does not vouch for the key, when it does not. */
  problem?: string
}

/** The outcome of {@link verifyApprovalFromChain}. */
export interface ChainApprovalVerification {
  /** True only when the chain verified and every check of the approval passed. */
  ok: boolean
  chain: ChainVerification
  /** Seq of the grant's `grant.issued` event; null when the chain has none. */
  grantSeq: number | null
  /** The approval the `grant.issued` event names. */
  approvalId: string | null
  /** The hash recomputed from the evidence's manifest. */
  manifestSha256: string | null
  votes: VoteVerification[]
  keys: ChainKey[]
  /** Every failed check, in words. */
  problems: string[]
}

type Fields = Record<string, unknown>

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0

/** The events of an export (seal lines left out), in order. */
function readEvents(chain: string | readonly string[]): Fields[] {
  const lines = typeof chain === 'string' ? chain.split('\n') : chain
  const events: Fields[] = []
  for (const line of lines) {
    if (line.trim() === '') continue
    const value = JSON.parse(line) as Fields
    if (value.type !== 'audit.seal') events.push(value)
  }
  return events
}

/** An `approver.enrolled` event's record, or why it cannot be one. */
function enrolmentRecord(event: Fields): EnrolmentRecord | string {
  const { public_key, attestation_object, client_data_json, approver, credential_id, aaguid } = event
  if (!isString(public_key) || !isString(attestation_object) || !isString(client_data_json)) {
    return 'its approver.enrolled event records no public key and attestation (the key was enrolled before writ kept them in the audit chain): enrol it again'
  }
  if (!isString(approver) || !isString(credential_id) || !isString(aaguid)) {
    return 'its approver.enrolled event names no approver, credential id or AAGUID'
  }
  return {
    seq: event.seq as number,
    time: event.time as string,
    approver,
    credentialId: credential_id,
    aaguid,
    publicKey: public_key,
    attestationObject: attestation_object,
    clientDataJSON: client_data_json,
  }
}

/**
 * Re-verifies a grant's human approval with no trust in the broker that produced it, from an audit
 * chain export, the evidence and the auditor's own attestation trust anchors, all offline:
 *
 * 1. the chain export verifies (`verifyChain`: hashes, links, checkpoints and seal against `jwks`);
 *    nothing is read from a chain that does not;
 * 2. the grant's `grant.issued` event is in it once, names the evidence's approval, and the same
 *    approvers (person and key) as the evidence's votes;
 * 3. every approver's key has exactly one `approver.enrolled` event before that grant, whose
 *    attestation re-verifies (`verifyEnrolmentRecord`: a genuine registration of exactly that
 *    credential id and key, chained to the auditor's trust anchors), and was not removed or
 *    flagged before the grant was issued;
 * 4. every vote verifies under the key recorded at enrolment, never under the key the evidence
 *    carries (`verifyApprovalEvidence` with `enrolledKeys`); a differing key is named;
 * 5. the evidence's manifest hashes to the one the grant was issued for.
 *
 * A compromised replica that puts its own key under a real approver's credential id, or approves
 * with a key it stored without enrolment, fails here. Never throws on bad input.
 *
 * @example
 * const trust = await loadTrustAnchors({ rootCertificateFiles: ['roots.pem'], readFile, clock })
 * const result = await verifyApprovalFromChain(
 *   { grantId, evidence, chain: readFileSync('audit.jsonl', 'utf8') },
 *   { jwks, trust },
 * )
 * if (!result.ok) console.error(result.problems.join('\n'))
 */
export async function verifyApprovalFromChain(
  input: VerifyApprovalFromChainInput,
  options: VerifyApprovalFromChainOptions,
): Promise<ChainApprovalVerification> {
  const { evidence, grantId } = input
  const chain = await verifyChain(input.chain, {
    keys: options.jwks,
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
  })
  const result: ChainApprovalVerification = {
    ok: false,
    chain,
    grantSeq: null,
    approvalId: null,
    manifestSha256: null,
    votes: [],
    keys: [],
    problems: [],
  }
  const problems = result.problems
  // Ensure the chain is the broker's, unaltered, before anything is read from it.
  if (!chain.ok) {
    const p = chain.problem!
    problems.push(`the audit chain export does not verify: line ${p.line}${p.seq === undefined ? '' : ` (seq ${p.seq})`}: ${p.reason}`)
    return result
  }
  const events = readEvents(input.chain)
  const range = chain.events ? `seq ${chain.firstSeq} to ${chain.lastSeq}` : 'no events'

  // Ensure the grant was issued on record, once, for this approval and these approvers.
  const issuedEvents = events.filter((e) => e.type === 'grant.issued' && e.grant === grantId)
  const issued = issuedEvents[0]
  if (!issued) {
    problems.push(`the audit chain export (${range}) has no grant.issued event for grant ${grantId}`)
    return result
  }
  if (issuedEvents.length > 1) {
    problems.push(`grant ${grantId} has ${issuedEvents.length} grant.issued events (seq ${issuedEvents.map((e) => e.seq).join(', ')})`)
  }
  const grantSeq = issued.seq as number
  result.grantSeq = grantSeq
  if (!isString(issued.approval)) {
    problems.push(`grant ${grantId} was issued without a human approval (seq ${grantSeq}): nothing to verify`)
    return result
  }
  result.approvalId = issued.approval
  if (evidence.approvalId !== issued.approval) {
    problems.push(`the evidence is for approval ${String(evidence.approvalId)}, but grant ${grantId} was issued for approval ${issued.approval}`)
  }
  const votes = Array.isArray(evidence.votes) ? evidence.votes : []
  const pair = (sub: unknown, id: unknown): string => `${String(sub)} with key ${String(id)}`
  const recorded = (Array.isArray(issued.approvers) ? (issued.approvers as Fields[]) : []).map((a) => pair(a.sub, a.credential_id)).sort()
  const carried = votes.map((v) => pair(v.sub, v.credentialId)).sort()
  if (recorded.join('\n') !== carried.join('\n')) {
    problems.push(
      `the grant.issued event (seq ${grantSeq}) names approvers [${recorded.join('; ')}], the evidence [${carried.join('; ')}]`,
    )
  }

  // Ensure each approver's key is the one enrolled on record before the grant, and still usable then.
  const enrolledKeys = new Map<string, AnchoredKey>()
  const before = events.filter((e) => (e.seq as number) < grantSeq)
  for (const id of new Set(votes.map((v) => String(v.credentialId)))) {
    const key: ChainKey = { credentialId: id, approver: null, enrolledAtSeq: null, thumbprint: null }
    result.keys.push(key)
    const enrolments = before.filter((e) => e.type === 'approver.enrolled' && e.credential_id === id)
    const first = enrolments[0]
    if (!first) {
      key.problem = `key ${id} has no approver.enrolled event before grant ${grantId} (seq ${grantSeq}) in the audit chain export (${range})`
      if ((chain.firstSeq ?? 1) > 1) key.problem += ': the export does not start at seq 1; include the one that holds the enrolment'
      enrolledKeys.set(id, { approver: '', publicKey: '', source: 'none', problem: key.problem })
      continue
    }
    key.approver = isString(first.approver) ? first.approver : null
    key.enrolledAtSeq = first.seq as number
    key.thumbprint = isString(first.public_key_thumbprint) ? first.public_key_thumbprint : null
    const source = `the approver.enrolled event at seq ${String(first.seq)}`
    const record = enrolmentRecord(first)
    let problem: string | null = typeof record === 'string' ? record : null
    if (!problem && enrolments.length > 1) {
      problem = `it is enrolled ${enrolments.length} times in the chain (seq ${enrolments.map((e) => e.seq).join(', ')}): a credential id is enrolled once, so the others are not the broker's`
    }
    const withdrawn = before.find(
      (e) => (e.type === 'approver.key_removed' || e.type === 'approver.key_flagged') && e.credential_id === id,
    )
    if (!problem && withdrawn) {
      const how = withdrawn.type === 'approver.key_removed' ? 'removed' : 'flagged'
      problem = `it was ${how} at seq ${String(withdrawn.seq)}${isString(withdrawn.reason) ? ` (${withdrawn.reason})` : ''}, before grant ${grantId} was issued`
    }
    if (!problem && typeof record !== 'string') {
      problem = await verifyEnrolmentRecord(record, {
        trust: options.trust,
        ...(options.allowedAaguids ? { allowedAaguids: options.allowedAaguids } : {}),
        rpId: evidence.rpId,
        origin: evidence.origin,
      })
    }
    if (problem) key.problem = `the enrolment of key ${id} (${source}) does not vouch for it: ${problem}`
    enrolledKeys.set(id, {
      approver: key.approver ?? '',
      publicKey: typeof record === 'string' ? '' : record.publicKey,
      source,
      ...(key.problem ? { problem: key.problem } : {}),
    })
  }

  // Ensure every vote verifies under the recorded key, over this manifest.
  const verified = await verifyApprovalEvidence(evidence, {
    enrolledKeys,
    ...(options.policy ? { policy: options.policy } : {}),
  })
  result.votes = verified.votes
  result.manifestSha256 = verified.manifestSha256
  problems.push(...verified.problems)
  // Ensure the evidence is for the manifest this grant was issued under.
  if (verified.manifestSha256 !== issued.manifest_sha256) {
    problems.push(
      `the evidence's manifest hashes to ${verified.manifestSha256}, but grant ${grantId} was issued for ${String(issued.manifest_sha256)}`,
    )
  }
  result.ok = problems.length === 0
  return result
}
