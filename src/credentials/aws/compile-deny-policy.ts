import { iamDate } from './compile-session-policy.js'
import type { DenyEntries } from './session-record.js'
import { SESSION_TAG_KEYS } from './vend-aws-credentials.js'

/** The condition key of the session tag naming the client, set on every session writ vends. */
export const CLIENT_TAG_CONDITION_KEY = `aws:PrincipalTag/${SESSION_TAG_KEYS.client}`

/**
 * The inline deny policy writ keeps on a role, from its deny entries and their version in the
 * shared state, or null when nothing is left to deny (every entry has expired): then the inline
 * policy is deleted.
 *
 * - Revoked grants: `Deny *` on `*` when `aws:userid` is `StringLike` `*:<grant id>`. An assumed
 *   role session's `aws:userid` is `<role id>:<RoleSessionName>`, and writ names every session
 *   after its grant, so this matches exactly the sessions vended under the revoked grants. Grant
 *   ids are base64url: they contain no `*` or `?`, so the pattern cannot match more.
 * - Client cutoffs: `Deny *` on `*` when `aws:TokenIssueTime` is `DateLessThan` the cutoff AND
 *   `aws:PrincipalTag/writ:client` is `StringEquals` the client id: only that client's sessions
 *   (writ tags every session it vends with its client), one statement per client.
 * - Cutoff: `Deny *` on `*` when `aws:TokenIssueTime` is `DateLessThan` the cutoff, the same
 *   mechanism as the IAM console's "revoke active sessions".
 *
 * Every statement's Sid carries `version` (`WritV<version>RevokedGrants`, …: see
 * denyPolicyVersion), so a read back of the policy tells which state IAM holds. Entries are
 * sorted, so the same state always compiles to the same text.
 */
export function compileDenyPolicy(
  entries: DenyEntries,
  nowSeconds: number,
  version: number,
): string | null {
  const names = Object.entries(entries.sessions)
    .filter(([, s]) => s.until > nowSeconds)
    .map(([name]) => name)
    .sort()
  const statements: object[] = []
  if (names.length > 0) {
    statements.push({
      Sid: `WritV${version}RevokedGrants`,
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { StringLike: { 'aws:userid': names.map((name) => `*:${name}`) } },
    })
  }
  const clients = Object.entries(entries.clientCutoffs ?? {})
    .filter(([, c]) => c.until > nowSeconds)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  for (const [i, [client, cutoff]] of clients.entries()) {
    statements.push({
      Sid: `WritV${version}ClientRevokedBefore${i + 1}`,
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: {
        DateLessThan: { 'aws:TokenIssueTime': iamDate(cutoff.issuedBefore) },
        StringEquals: { [CLIENT_TAG_CONDITION_KEY]: client },
      },
    })
  }
  if (entries.cutoff && entries.cutoff.until > nowSeconds) {
    statements.push({
      Sid: `WritV${version}RevokedBefore`,
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { DateLessThan: { 'aws:TokenIssueTime': iamDate(entries.cutoff.issuedBefore) } },
    })
  }
  if (statements.length === 0) return null
  return JSON.stringify({ Version: '2012-10-17', Statement: statements })
}
