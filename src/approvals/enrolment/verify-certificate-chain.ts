import type { X509Certificate } from 'node:crypto'

/** Longest certificate path accepted (leaf, intermediates, anchor). */
const MAX_CHAIN_LENGTH = 6

/** The outcome of {@link verifyCertificateChain}. */
export type ChainResult = { ok: true; anchor: X509Certificate } | { ok: false; reason: string }

/** A distinguished name on one line. */
const dn = (name: string): string => name.replace(/\n/g, ', ')

const validAt = (cert: X509Certificate, nowMs: number): boolean =>
  Date.parse(cert.validFrom) <= nowMs && nowMs <= Date.parse(cert.validTo)

/** Whether `issuer` issued and signed `cert`, and may issue certificates. */
const issuedBy = (cert: X509Certificate, issuer: X509Certificate): boolean =>
  issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey)

/**
 * Checks that `chain` (leaf first, as an attestation statement's `x5c` lists it) is a valid
 * certificate path to one of `anchors`, at `nowMs` by the caller's clock: every certificate is
 * within its validity period, each is issued and signed by the next one (which must be a CA), and
 * the last is either one of the anchors itself or issued and signed by a valid anchor CA.
 *
 * Local and offline: no revocation list or other network fetch, ever (docs/design.md: trust anchors
 * come from configured files). Revocation of authenticator models comes from the FIDO MDS blob's
 * status reports instead.
 */
export function verifyCertificateChain(
  chain: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  nowMs: number,
): ChainResult {
  // Ensure there is a path to check, and that it is of a sane length.
  if (chain.length === 0) return { ok: false, reason: 'the certificate chain is empty' }
  if (chain.length > MAX_CHAIN_LENGTH) {
    return { ok: false, reason: `the certificate chain has more than ${MAX_CHAIN_LENGTH} certificates` }
  }
  for (const [i, cert] of chain.entries()) {
    // Ensure every certificate in the path is valid now.
    if (!validAt(cert, nowMs)) {
      return { ok: false, reason: `certificate ${i} (${dn(cert.subject)}) is outside its validity period` }
    }
    const issuer = chain[i + 1]
    // Ensure each certificate was issued and signed by the next one, a CA.
    if (issuer && !issuedBy(cert, issuer)) {
      return { ok: false, reason: `certificate ${i} (${dn(cert.subject)}) is not issued by certificate ${i + 1}` }
    }
  }
  const last = chain[chain.length - 1]!
  // Ensure the path ends in a configured trust anchor, or in a certificate one of them issued.
  const included = anchors.find((anchor) => anchor.raw.equals(last.raw))
  if (included) return { ok: true, anchor: included }
  const issuer = anchors.find((anchor) => validAt(anchor, nowMs) && issuedBy(last, anchor))
  if (issuer) return { ok: true, anchor: issuer }
  return { ok: false, reason: `the chain (issued by ${dn(last.issuer)}) does not lead to a configured trust anchor` }
}
