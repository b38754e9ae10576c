/**
 * What the broker publishes on the revocation channel (`<prefix>revocations`), and what verifiers
 * subscribe to. One message per revocation; a bulk revocation publishes batches of ids. A verifier
 * drops every listed grant from its cache of grants it confirmed live; `all: true` drops the cache.
 */
export type RevocationMessage =
  | { v: 1; grants: Array<{ id: string; clientId: string; exp: number }> }
  | { v: 1; all: true }

export const REVOCATION_CHANNEL_SUFFIX = 'revocations'

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
