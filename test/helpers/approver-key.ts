import { randomBytes } from 'node:crypto'
import type { ApprovalStore } from '../../src/approvals/store/store.js'

/**
 * Puts an enrolled key for `sub` straight into the approval store (an invite made and used at
 * once), for tests whose approval requests must be accepted but are never approved with that key:
 * the broker refuses a request that no enrolled key could approve.
 */
export async function seedApproverKey(store: ApprovalStore, sub: string, group: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const invite = {
    tokenSha256: randomBytes(32).toString('hex'),
    sub,
    group,
    createdBy: 'system' as const,
    createdAt: now,
    expiresAt: now + 3600,
  }
  await store.createInvite(invite)
  const id = randomBytes(16).toString('base64url')
  const outcome = await store.enrol(invite, {
    id,
    sub,
    group,
    publicKey: randomBytes(32).toString('base64url'),
    counter: 0,
    aaguid: '00000000-0000-0000-0000-000000000000',
    fmt: 'none',
    attestation: 'relaxed',
    attestationObject: randomBytes(16).toString('base64url'),
    userHandle: randomBytes(16).toString('base64url'),
    enrolledAt: now,
  })
  if (outcome !== 'enrolled') throw new Error(`seedApproverKey: ${outcome}`)
  return id
}
