/**
 * What keeps secrets out of log lines, applied by the logger to every message and every field it
 * writes (src/logger.ts): nothing that logs can opt out of it. Four rules, each by construction
 * rather than by a list of call sites:
 *
 * 1. A field whose name says it holds a secret (token, secret, password, assertion, kek,
 *    authorization, cookie, proof, private key, signature, auth_req_id) is written as `[redacted]`
 *    whatever its value.
 * 2. Every string, anywhere (message, field, nested object, array, error message), is scanned and
 *    what has the shape of a credential is cut out: JWTs and other dot-joined base64url runs (JWS,
 *    `auth_req_id`), `Bearer`/`Basic`/`DPoP` credentials, the password of a URL's userinfo
 *    (`redis://user:PASSWORD@host`), enrolment invite paths (`/enroll/SECRET`), and any run of 40
 *    or more base64 or base64url characters mixing both cases — what every secret writ
 *    generates looks like (32 random bytes: admin tokens, client secrets, KEKs).
 * 3. Secret values the process was configured with (KEK, Redis password, DPoP nonce secret, metrics
 *    token) are replaced wherever they appear, whatever their shape.
 * 4. Errors are written as their name and (scanned) message; nested data stops at a depth of 6.
 *
 * Public identifiers that look random (key ids, thumbprints, hashes) keep their value when their
 * field name says what they are (rule 2's last pattern only; a JWT is cut out everywhere).
 */

const REDACTED = '[redacted]'

/** Field names whose values are never written (rule 1). */
const SECRET_NAME =
  /(token|secret|passw(or)?d|assertion|kek|authorization|cookie|proof|private|signature|credentials?$|^auth_req_id$|^dpop$|api[-_]?key)/i

/** Field names whose long random-looking values are public (key ids, thumbprints, digests). */
const PUBLIC_ID_NAME = /^(kid|keptKid|jkt|cnf_jkt|thumbprint|.*_sha256|.*Sha256|hash|prev|credential_id|credentialId|aaguid)$/

/** Field names that say "this counts or times something", never secret whatever the name. */
const NUMERIC_OK = (value: unknown): boolean => typeof value === 'number' || typeof value === 'boolean'

/**
 * Dot-joined words of letters only (`approvals.attestation.allowedAaguids`) are names, not
 * credentials: a JWT starts `eyJ` and random base64url has digits, `_` or `-` (two 10-character
 * runs of random base64url lack all of them with a probability below 2 %, and an id.secret handle,
 * 16 + 43 characters, below 1e-5).
 */
const redactDotted = (run: string): string =>
  run.startsWith('eyJ') || /[0-9_-]/.test(run) ? '[jwt-redacted]' : run

const SHAPES: Array<[RegExp, string | ((match: string) => string)]> = [
  // Two or more dot-joined base64url runs of 10+ characters: JWT, JWS, id.secret handles.
  [/[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]{10,})+(?:\.[A-Za-z0-9_-]*)?/g, redactDotted],
  // HTTP credentials in any scheme writ or its clients use.
  [/\b(Bearer|Basic|DPoP)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  // The password of a URL's userinfo.
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, `$1${REDACTED}@`],
  // Enrolment invite URLs carry the invite secret as their last segment.
  [/(\/enroll\/)[^\s/?#"']+/g, `$1${REDACTED}`],
]

/**
 * 40+ base64(url) characters with both lower- and upper-case letters: generated secrets (32 random
 * bytes lack one of the two cases with a probability below 1e-9), and almost nothing else.
 */
const RANDOM_RUN = /[A-Za-z0-9+/_-]{40,}={0,2}/g
const looksRandom = (run: string): boolean => /[a-z]/.test(run) && /[A-Z]/.test(run)

const MAX_DEPTH = 6

export interface Redactor {
  /** A copy of `value` with secrets cut out (see the module comment). */
  value(value: unknown, name?: string): unknown
  /** `text` with secrets cut out. */
  text(text: string, name?: string): string
}

/**
 * A redactor that also replaces `secrets` (configured secret values, rule 3) wherever they appear.
 * Values shorter than 8 characters are ignored: they would cut ordinary words out of messages.
 */
export function createRedactor(secrets: readonly string[] = []): Redactor {
  const known = [...new Set(secrets.filter((s) => s.length >= 8))].sort((a, b) => b.length - a.length)

  const text = (input: string, name?: string): string => {
    let out = input
    for (const secret of known) if (out.includes(secret)) out = out.split(secret).join(REDACTED)
    for (const [shape, replacement] of SHAPES) {
      // Both branches call the same method: TypeScript picks `replace`'s overload by the narrowed type.
      out = typeof replacement === 'string' ? out.replace(shape, replacement) : out.replace(shape, replacement)
    }
    if (name === undefined || !PUBLIC_ID_NAME.test(name)) {
      out = out.replace(RANDOM_RUN, (run) => (looksRandom(run) ? REDACTED : run))
    }
    return out
  }

  const value = (input: unknown, name?: string, depth = 0): unknown => {
    if (name !== undefined && SECRET_NAME.test(name) && !NUMERIC_OK(input) && input !== undefined && input !== null) {
      return REDACTED
    }
    if (typeof input === 'string') return text(input, name)
    if (input === null || typeof input !== 'object') {
      return typeof input === 'function' || typeof input === 'symbol' ? String(typeof input) : input
    }
    if (depth >= MAX_DEPTH) return '[nested]'
    if (input instanceof Error) return { name: input.name, message: text(input.message) }
    if (Array.isArray(input)) return input.map((item) => value(item, name, depth + 1))
    if (input instanceof Uint8Array) return `[${input.byteLength} bytes]`
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(input)) out[key] = value(item, key, depth + 1)
    return out
  }

  return { value: (input, name) => value(input, name), text }
}
