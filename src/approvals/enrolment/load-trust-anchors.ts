import { X509Certificate } from 'node:crypto'
import { compactVerify, decodeProtectedHeader } from 'jose'
import type { Clock } from '../../clock.js'
import { ConfigError } from '../../config.js'
import { verifyCertificateChain } from './verify-certificate-chain.js'

/** What the FIDO Metadata Service says about one authenticator model. */
export interface MetadataEntry {
  aaguid: string
  description?: string
  /** The model's attestation roots: its chains must end in one of these. */
  roots: X509Certificate[]
  /** Set when a status report says the model must not be trusted (the status). */
  compromised?: string
}

/** Trust anchors for attestation, loaded once at boot from local files. */
export interface TrustAnchors {
  /** Root (or pinned) certificates from `rootCertificateFiles`. */
  roots: X509Certificate[]
  /** FIDO MDS entries by AAGUID (lowercase), from `mdsBlobFile`. */
  metadata: ReadonlyMap<string, MetadataEntry>
  /** Things an operator should know (a stale MDS blob), for the boot log. */
  warnings: string[]
}

export interface LoadTrustAnchorsOptions {
  /** PEM files, each holding one or more certificates. */
  rootCertificateFiles: readonly string[]
  /** A FIDO MDS3 BLOB (the JWT as downloaded), stored locally. */
  mdsBlobFile?: string | undefined
  /** The root the MDS BLOB's signing chain must lead to (FIDO: GlobalSign Root CA - R3). */
  mdsRootCertificateFile?: string | undefined
  /** Reads a file as UTF-8 text. */
  readFile: (path: string) => string
  clock: Clock
}

/** MDS status reports after which a model is not trusted (FIDO MDS3 §3.1.4 AuthenticatorStatus). */
const COMPROMISED = new Set([
  'REVOKED',
  'USER_VERIFICATION_BYPASS',
  'ATTESTATION_KEY_COMPROMISE',
  'USER_KEY_REMOTE_COMPROMISE',
  'USER_KEY_PHYSICAL_COMPROMISE',
])

const MDS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** Every certificate in a PEM text. */
function parsePem(text: string): X509Certificate[] {
  return (text.match(PEM_BLOCK) ?? []).map((block) => new X509Certificate(block))
}

/** A certificate given as base64 DER (as x5c and MDS statements carry them). */
const fromBase64Der = (b64: string): X509Certificate => new X509Certificate(Buffer.from(b64, 'base64'))

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err))

interface MdsPayload {
  nextUpdate?: unknown
  entries?: unknown
}

interface MdsEntryJson {
  aaguid?: unknown
  metadataStatement?: { description?: unknown; attestationRootCertificates?: unknown }
  statusReports?: Array<{ status?: unknown }>
}

/**
 * Loads attestation trust anchors from local files: root certificates (PEM) and/or a FIDO MDS3
 * BLOB whose signature is verified against its x5c chain, which must lead to the configured MDS
 * root. Nothing is fetched from the network. Every problem is collected and thrown at once.
 *
 * @throws ConfigError listing each unreadable file, each file without certificates, a BLOB whose
 *   signature or chain does not verify, or a BLOB configured without its root.
 */
export async function loadTrustAnchors(options: LoadTrustAnchorsOptions): Promise<TrustAnchors> {
  const problems: string[] = []
  const warnings: string[] = []
  const roots: X509Certificate[] = []
  const metadata = new Map<string, MetadataEntry>()

  const readCertificates = (path: string, what: string): X509Certificate[] => {
    try {
      const certs = parsePem(options.readFile(path))
      if (certs.length === 0) problems.push(`${what} ${path}: no PEM certificate found`)
      return certs
    } catch (err) {
      problems.push(`${what} ${path}: ${message(err)}`)
      return []
    }
  }

  for (const path of options.rootCertificateFiles) {
    roots.push(...readCertificates(path, 'approvals.attestation.rootCertificateFiles'))
  }

  if (options.mdsBlobFile !== undefined) {
    const blobPath = options.mdsBlobFile
    if (options.mdsRootCertificateFile === undefined) {
      problems.push('approvals.attestation.mdsRootCertificateFile: required with mdsBlobFile')
    } else {
      const mdsRoots = readCertificates(options.mdsRootCertificateFile, 'approvals.attestation.mdsRootCertificateFile')
      if (mdsRoots.length > 0) {
        try {
          const payload = await verifyBlob(options.readFile(blobPath).trim(), mdsRoots, options.clock())
          for (const entry of readEntries(payload, problems, blobPath)) metadata.set(entry.aaguid, entry)
          const next = typeof payload.nextUpdate === 'string' ? Date.parse(payload.nextUpdate) : NaN
          if (Number.isFinite(next) && next < options.clock()) {
            warnings.push(
              `the FIDO MDS blob ${blobPath} is stale (nextUpdate ${String(payload.nextUpdate)}): download a current one so revoked authenticator models are refused`,
            )
          }
        } catch (err) {
          problems.push(`approvals.attestation.mdsBlobFile ${blobPath}: ${message(err)}`)
        }
      }
    }
  }

  if (problems.length > 0) throw new ConfigError(problems)
  return { roots, metadata, warnings }
}

/** Verifies the BLOB's JWS against its x5c chain, anchored in `mdsRoots`; returns its payload. */
async function verifyBlob(jws: string, mdsRoots: X509Certificate[], nowMs: number): Promise<MdsPayload> {
  const header = decodeProtectedHeader(jws)
  if (!Array.isArray(header.x5c) || header.x5c.length === 0) throw new Error('the BLOB header has no x5c chain')
  const chain = header.x5c.map((b64) => fromBase64Der(String(b64)))
  // Ensure the BLOB was signed by a certificate that chains to the configured MDS root.
  const path = verifyCertificateChain(chain, mdsRoots, nowMs)
  if (!path.ok) throw new Error(`the BLOB signing chain is not trusted: ${path.reason}`)
  // Ensure the BLOB's signature is valid under the leaf of that chain.
  const { payload } = await compactVerify(jws, chain[0]!.publicKey, { algorithms: MDS_ALGORITHMS })
  const parsed: unknown = JSON.parse(Buffer.from(payload).toString('utf8'))
  if (typeof parsed !== 'object' || parsed === null) throw new Error('the BLOB payload is not an object')
  return parsed as MdsPayload
}

/** The BLOB's FIDO2 entries (those with an AAGUID). */
function readEntries(payload: MdsPayload, problems: string[], path: string): MetadataEntry[] {
  if (!Array.isArray(payload.entries)) {
    problems.push(`approvals.attestation.mdsBlobFile ${path}: the BLOB has no entries array`)
    return []
  }
  const out: MetadataEntry[] = []
  for (const [i, raw] of (payload.entries as MdsEntryJson[]).entries()) {
    if (typeof raw?.aaguid !== 'string') continue
    const statement = raw.metadataStatement
    try {
      const rootList = Array.isArray(statement?.attestationRootCertificates)
        ? (statement.attestationRootCertificates as unknown[]).map((c) => fromBase64Der(String(c)))
        : []
      const compromised = (raw.statusReports ?? [])
        .map((report) => report?.status)
        .find((status): status is string => typeof status === 'string' && COMPROMISED.has(status))
      out.push({
        aaguid: raw.aaguid.toLowerCase(),
        ...(typeof statement?.description === 'string' ? { description: statement.description } : {}),
        roots: rootList,
        ...(compromised ? { compromised } : {}),
      })
    } catch (err) {
      problems.push(`approvals.attestation.mdsBlobFile ${path}: entries[${i}]: ${message(err)}`)
    }
  }
  return out
}
