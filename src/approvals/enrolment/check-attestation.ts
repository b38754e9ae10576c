import { X509Certificate } from 'node:crypto'
import { WritError } from '../../errors.js'
import type { TrustAnchors } from './load-trust-anchors.js'
import { verifyCertificateChain } from './verify-certificate-chain.js'

/** Attestation statement formats a strict broker accepts (all carry an x5c chain). */
export const ATTESTATION_FORMATS: readonly string[] = ['packed', 'tpm', 'fido-u2f']

/** How enrolment judges a key's attestation. */
export interface AttestationPolicy {
  /**
   * `strict`: direct attestation in an accepted format, a chain to a trust anchor, an allowed
   * AAGUID. `relaxed` (dev mode only): anything the WebAuthn verification accepted, including
   * `none` and self attestation, recorded as unverified and warned about loudly.
   */
  mode: 'strict' | 'relaxed'
  /** Allowed authenticator models, lowercase AAGUIDs. Empty: none is allowed (strict mode). */
  allowedAaguids: ReadonlySet<string>
  trust: TrustAnchors
}

/** What enrolment learned from a registration's attestation statement. */
export interface AttestationInput {
  fmt: string
  /** AAGUID from the authenticator data, in RFC 4122 form. */
  aaguid: string
  /** The statement's x5c (leaf first, DER), absent for `none` and self attestation. */
  x5c: readonly Uint8Array[] | undefined
  nowMs: number
}

/** `verified`: the strict checks passed; `relaxed`: dev mode accepted what strict mode refuses. */
export type AttestationVerdict =
  | { attestation: 'verified' }
  | { attestation: 'relaxed'; wouldRefuse: string }

const refused = (message: string, detail: string): WritError =>
  new WritError('access_denied', 403, message, { detail })

/** The strict checks; null when they pass, else the refusal. */
function strictProblem(policy: AttestationPolicy, input: AttestationInput): WritError | null {
  const aaguid = input.aaguid.toLowerCase()
  // Ensure the format is one that carries a verifiable hardware attestation.
  if (!ATTESTATION_FORMATS.includes(input.fmt)) {
    return refused(
      `attestation format "${input.fmt}" is not accepted: enrol a hardware security key with direct attestation (${ATTESTATION_FORMATS.join(', ')})`,
      `fmt=${input.fmt}`,
    )
  }
  // Ensure the attestation is not self attestation (packed without x5c): that proves nothing.
  if (!input.x5c || input.x5c.length === 0) {
    return refused(
      'self attestation is not accepted: the key must prove its model with an attestation certificate',
      `fmt=${input.fmt} without x5c`,
    )
  }
  // Ensure the authenticator model is on the allow-list.
  if (!policy.allowedAaguids.has(aaguid)) {
    return refused(
      `this security key model (AAGUID ${aaguid}) is not on the broker's allow-list`,
      `aaguid=${aaguid} allowed=${[...policy.allowedAaguids].join(',') || '(none configured)'}`,
    )
  }
  const entry = policy.trust.metadata.get(aaguid)
  // Ensure the FIDO Metadata Service has not reported the model compromised.
  if (entry?.compromised) {
    return refused(
      `this security key model (AAGUID ${aaguid}) is reported ${entry.compromised} by the FIDO Metadata Service`,
      `mds status ${entry.compromised}`,
    )
  }
  const anchors = entry && entry.roots.length > 0 ? entry.roots : policy.trust.roots
  if (anchors.length === 0) {
    return refused(
      'the broker has no attestation trust anchor for this security key model',
      `no root for aaguid ${aaguid}: configure approvals.attestation.rootCertificateFiles or mdsBlobFile`,
    )
  }
  let chain: X509Certificate[]
  try {
    chain = input.x5c.map((der) => new X509Certificate(Buffer.from(der)))
  } catch (err) {
    return refused('the attestation certificate chain is malformed', err instanceof Error ? err.message : String(err))
  }
  // Ensure the attestation certificate chains to a configured trust anchor, valid now.
  const path = verifyCertificateChain(chain, anchors, input.nowMs)
  if (!path.ok) return refused('the attestation certificate is not trusted by this broker', path.reason)
  return null
}

/**
 * Applies the attestation policy to a registration whose attestation statement signature was
 * already verified (by `verifyRegistrationResponse`, which checks the statement against its own
 * leaf certificate, the leaf's AAGUID extension and its required fields, but does not anchor the
 * chain unless given roots, and would fetch revocation lists if it were; so the chain is anchored
 * here, offline, against the broker's own trust anchors and clock).
 *
 * @throws WritError `access_denied` (403) in strict mode, saying which rule refused the key.
 */
export function checkAttestation(policy: AttestationPolicy, input: AttestationInput): AttestationVerdict {
  const problem = strictProblem(policy, input)
  if (problem && policy.mode === 'relaxed') return { attestation: 'relaxed', wouldRefuse: problem.message }
  if (problem) throw problem
  return { attestation: 'verified' }
}
