/**
 * The deny-state version a policy compiled by `compileDenyPolicy` carries (every statement's Sid
 * is `WritV<version><kind>`), or null when the document is not one writ wrote: absent,
 * unparsable, or with a statement of another shape or version.
 *
 * @example denyPolicyVersion('{"Statement":[{"Sid":"WritV7RevokedGrants",…}]}') // 7
 */
export function denyPolicyVersion(document: string | null): number | null {
  if (document === null) return null
  let statements: unknown
  try {
    statements = (JSON.parse(document) as { Statement?: unknown }).Statement
  } catch {
    return null
  }
  if (!Array.isArray(statements) || statements.length === 0) return null
  const versions = new Set<string>()
  for (const statement of statements as Array<{ Sid?: unknown }>) {
    const sid = typeof statement?.Sid === 'string' ? statement.Sid : ''
    const match = /^WritV(\d{1,15})[A-Z]/.exec(sid)
    if (!match) return null
    versions.add(match[1]!)
  }
  return versions.size === 1 ? Number([...versions][0]) : null
}
