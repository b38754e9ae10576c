import { randomUUID } from 'node:crypto'
import type { Grant } from '../../src/grants/grant.js'

/**
 * A grant of `clientId` issued now (real time) that lives `lifeSeconds`, with a fresh id and
 * placeholder content; `overrides` sets anything a test cares about.
 */
export function testGrant(clientId: string, lifeSeconds = 600, overrides: Partial<Grant> = {}): Grant {
  const issuedAt = Math.floor(Date.now() / 1000)
  return {
    id: randomUUID(),
    clientId,
    task: { id: 'JIRA-4711' },
    manifestSha256: '00'.repeat(32),
    authorizationDetails: [{ type: 'repo', actions: ['read'] }],
    ruleIds: ['r'],
    issuedAt,
    expiresAt: issuedAt + lifeSeconds,
    ...overrides,
  }
}
