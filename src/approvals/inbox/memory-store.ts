import type { Clock } from '../../clock.js'
import type { ApproverSession, InboxStore, SignInChallenge } from './store.js'

/** The inbox store in this process's memory (a single broker, tests). */
export function createMemoryInboxStore(options: { clock: Clock }): InboxStore {
  const { clock } = options
  const challenges = new Map<string, SignInChallenge>()
  const sessions = new Map<string, ApproverSession>()
  const live = (atSeconds: number): boolean => atSeconds * 1000 > clock()
  // Ensure expired entries do not pile up: drop them whenever something is stored.
  const sweep = (): void => {
    for (const [key, value] of challenges) if (!live(value.exp)) challenges.delete(key)
    for (const [key, value] of sessions) if (!live(value.expiresAt)) sessions.delete(key)
  }
  return {
    async putChallenge(challenge) {
      sweep()
      if (live(challenge.exp)) challenges.set(challenge.challenge, { ...challenge })
    },
    async takeChallenge(challenge) {
      const found = challenges.get(challenge)
      // Ensure a challenge is used at most once: read and delete in one synchronous step.
      challenges.delete(challenge)
      return found && live(found.exp) ? found : null
    },
    async putSession(tokenSha256, session) {
      sweep()
      if (live(session.expiresAt)) sessions.set(tokenSha256, { ...session })
    },
    async getSession(tokenSha256) {
      const found = sessions.get(tokenSha256)
      return found && live(found.expiresAt) ? { ...found } : null
    },
    async deleteSession(tokenSha256) {
      sessions.delete(tokenSha256)
    },
  }
}
