import type { Clock } from '../../clock.js'
import type { AuthorizationCode, AuthorizationRequest, ConsentChallenge } from '../types.js'
import type { AuthorizationStore } from './store.js'

interface Kept<T> {
  value: T
  /** Milliseconds since the epoch. */
  until: number
}

/**
 * The in-memory authorization store, for a single broker. Each step is one synchronous
 * operation, so what must happen once does. Values are copied in and out (JSON), as Redis would.
 */
export function createMemoryAuthorizationStore(options: { clock: Clock }): AuthorizationStore {
  const { clock } = options
  const requests = new Map<string, Kept<string>>()
  const challenges = new Map<string, Kept<string>>()
  const codes = new Map<string, Kept<string>>()
  const links = new Map<string, Kept<{ grantId?: string; replayed?: boolean }>>()

  const live = <T>(map: Map<string, Kept<T>>, key: string): T | undefined => {
    const kept = map.get(key)
    if (!kept) return undefined
    if (kept.until <= clock()) {
      map.delete(key)
      return undefined
    }
    return kept.value
  }
  /** Drops what has expired, so abandoned requests do not accumulate. */
  const sweep = (): void => {
    const now = clock()
    for (const map of [requests, challenges, codes, links] as Array<Map<string, Kept<unknown>>>) {
      for (const [key, kept] of map) if (kept.until <= now) map.delete(key)
    }
  }
  const retained = (seconds: number): number => {
    if (!Number.isInteger(seconds) || seconds <= 0) throw new RangeError('retentionSeconds must be a positive integer')
    return clock() + seconds * 1000
  }
  const parse = <T>(json: string | undefined): T | null => (json === undefined ? null : (JSON.parse(json) as T))

  return {
    async putRequest(request) {
      sweep()
      requests.set(request.id, { value: JSON.stringify(request), until: request.expiresAt * 1000 })
    },
    async getRequest(id) {
      return parse<AuthorizationRequest>(live(requests, id))
    },
    async takeRequest(id) {
      const json = live(requests, id)
      requests.delete(id)
      return parse<AuthorizationRequest>(json)
    },
    async putChallenge(id, challenge) {
      challenges.set(`${id}\0${challenge.challenge}`, { value: JSON.stringify(challenge), until: challenge.exp * 1000 })
    },
    async takeChallenge(id, challenge) {
      const key = `${id}\0${challenge}`
      const json = live(challenges, key)
      challenges.delete(key)
      return parse<ConsentChallenge>(json)
    },
    async putCode(codeSha256, code, retentionSeconds) {
      codes.set(codeSha256, { value: JSON.stringify(code), until: retained(retentionSeconds) })
    },
    async getCode(codeSha256) {
      return parse<AuthorizationCode>(live(codes, codeSha256))
    },
    async linkGrant(codeSha256, grantId, retentionSeconds) {
      const link = live(links, codeSha256) ?? {}
      links.set(codeSha256, { value: { ...link, grantId }, until: retained(retentionSeconds) })
      return { replayed: link.replayed === true }
    },
    async markReplayed(codeSha256, retentionSeconds) {
      const link = live(links, codeSha256) ?? {}
      links.set(codeSha256, { value: { ...link, replayed: true }, until: retained(retentionSeconds) })
      return link.grantId !== undefined ? { grantId: link.grantId } : {}
    },
  }
}
