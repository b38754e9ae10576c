import { iamDate } from './compile-session-policy.js'
import type { DenyEntries } from './session-record.js'

/**
 * The inline deny policy writ keeps on a role, from its deny entries, or null when nothing is
 * left to deny (every entry has expired): then the inline policy is deleted.
 *
 * - Revoked grants: `Deny *` on `*` when `aws:userid` is `StringLike` `*:<grant id>`. An assumed
 *   role session's `aws:userid` is `<role id>:<RoleSessionName>`, and writ names every session
 *   after its grant, so this matches exactly the sessions vended under the revoked grants. Grant
 *   ids are base64url: they contain no `*` or `?`, so the pattern cannot match more.
 * - Cutoff: `Deny *` on `*` when `aws:TokenIssueTime` is `DateLessThan` the cutoff, the same
 *   mechanism as the IAM console's "revoke active sessions".
 *
 * Entries are sorted, so the same state always compiles to the same text.
 */
export function compileDenyPolicy(entries: DenyEntries, nowSeconds: number): string | null {
  const names = Object.entries(entries.sessions)
    .filter(([, until]) => until > nowSeconds)
    .map(([name]) => name)
    .sort()
  const statements: object[] = []
  if (names.length > 0) {
    statements.push({
      Sid: 'WritRevokedGrants',
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { StringLike: { 'aws:userid': names.map((name) => `*:${name}`) } },
    })
  }
  if (entries.cutoff && entries.cutoff.until > nowSeconds) {
    statements.push({
      Sid: 'WritRevokedBefore',
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { DateLessThan: { 'aws:TokenIssueTime': iamDate(entries.cutoff.issuedBefore) } },
    })
  }
  if (statements.length === 0) return null
  return JSON.stringify({ Version: '2012-10-17', Statement: statements })
}
