import type { Clock } from '../../clock.js'
import type {
  AwsSessionRecord,
  DenyEntries,
  RoleDenyState,
  VendedSession,
} from './session-record.js'

/** A deep copy: callers never share objects with the stored state. */
const copyEntries = (entries: DenyEntries): DenyEntries => structuredClone(entries)

/**
 * The in-process {@link AwsSessionRecord}, for the single-instance memory store. Expired sessions
 * are dropped as they are met.
 */
export function createMemorySessionRecord(options: { clock: Clock }): AwsSessionRecord {
  const { clock } = options
  /** grant id → client id and role → session expiry. */
  const grants = new Map<string, { clientId: string; roles: Map<string, number> }>()
  const deny = new Map<string, RoleDenyState>()
  const now = (): number => clock() / 1000

  const unexpired = (grantId: string): VendedSession[] => {
    const entry = grants.get(grantId)
    if (!entry) return []
    const out: VendedSession[] = []
    const t = now()
    for (const [roleArn, expiresAt] of entry.roles) {
      if (expiresAt > t) out.push({ grantId, clientId: entry.clientId, roleArn, expiresAt })
      else entry.roles.delete(roleArn)
    }
    if (entry.roles.size === 0) grants.delete(grantId)
    return out
  }

  return {
    async recordSession(session) {
      const entry = grants.get(session.grantId) ?? { clientId: session.clientId, roles: new Map() }
      const current = entry.roles.get(session.roleArn) ?? 0
      entry.roles.set(session.roleArn, Math.max(current, session.expiresAt))
      grants.set(session.grantId, entry)
    },
    async sessionsOf(grantIds) {
      return [...new Set(grantIds)].flatMap(unexpired)
    },
    async listSessions() {
      return [...grants.keys()].flatMap(unexpired)
    },
    async getDenyState(roleArn) {
      const state = deny.get(roleArn)
      if (!state) return { version: 0, appliedVersion: 0, sessions: {} }
      return { ...copyEntries(state), version: state.version, appliedVersion: state.appliedVersion }
    },
    async putDenyState(roleArn, entries, expectedVersion) {
      const state = deny.get(roleArn)
      // Ensure the writer saw the current version (compare-and-set), so no revocation is lost.
      if ((state?.version ?? 0) !== expectedVersion) return false
      deny.set(roleArn, {
        ...copyEntries(entries),
        version: expectedVersion + 1,
        appliedVersion: state?.appliedVersion ?? 0,
      })
      return true
    },
    async markApplied(roleArn, version) {
      const state = deny.get(roleArn)
      if (state && state.version === version) state.appliedVersion = version
    },
  }
}
