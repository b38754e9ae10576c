/**
 * Part of the wire contract (`src/wire/`).
 *
 * What the broker publishes on the revocation channel (`<prefix>revocations`), and what verifiers
 * subscribe to. One message per revocation; a bulk revocation publishes batches of ids. A verifier
 * drops every listed grant from its cache of grants it confirmed live; `all: true` drops the cache.
 *
 * A change of the signing key set is announced on the same channel, in the same atomic step as the
 * write: `keys.kids` lists every kid the JWKS publishes from then on. A verifier stops accepting
 * any other kid at once and refetches the JWKS; a broker re-reads the key set from the store (and
 * trusts only what authenticates under its KEK, never the message). Verifiers that predate this
 * message read it as malformed and drop their grant cache, which is safe.
 */
export type RevocationMessage =
  | { v: 1; grants: Array<{ id: string; clientId: string; exp: number }> }
  | { v: 1; all: true }
  | KeySetMessage

/** The signing key set changed: `kids` are the only kids published from now on. */
export interface KeySetMessage {
  v: 1
  keys: { kids: string[] }
}

export const REVOCATION_CHANNEL_SUFFIX = 'revocations'

/** Most kids a key-set message lists (next, current, previous). */
const MAX_KIDS = 3
const MAX_KID_LENGTH = 128

/** The message announcing a key set whose published kids are `kids`. */
export function keySetMessage(kids: readonly string[]): KeySetMessage {
  return { v: 1, keys: { kids: [...kids] } }
}

function parseKeys(value: unknown): KeySetMessage | null {
  if (!value || typeof value !== 'object') return null
  const { kids } = value as Record<string, unknown>
  if (!Array.isArray(kids) || kids.length === 0 || kids.length > MAX_KIDS) return null
  const out: string[] = []
  for (const kid of kids) {
    if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) return null
    out.push(kid)
  }
  return keySetMessage(out)
}

/** Parses a message from the channel; anything malformed is null (the caller drops its cache). */
export function parseRevocationMessage(text: string): RevocationMessage | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (!value || typeof value !== 'object') return null
  const m = value as Record<string, unknown>
  if (m.v !== 1) return null
  if (m.all === true) return { v: 1, all: true }
  if (m.keys !== undefined) return parseKeys(m.keys)
  if (!Array.isArray(m.grants)) return null
  const grants: Array<{ id: string; clientId: string; exp: number }> = []
  for (const g of m.grants) {
    if (!g || typeof g !== 'object') return null
    const { id, clientId, exp } = g as Record<string, unknown>
    if (typeof id !== 'string' || typeof clientId !== 'string' || typeof exp !== 'number') return null
    grants.push({ id, clientId, exp })
  }
  return { v: 1, grants }
}
