import { randomUUID } from 'node:crypto'
import type { STSClient } from '@aws-sdk/client-sts'
import { describe, expect, it } from 'vitest'
import { manualClock } from '../../../src/clock.js'
import { createMemorySessionRecord } from '../../../src/credentials/aws/memory-session-record.js'
import { vendAwsCredentials } from '../../../src/credentials/aws/vend-aws-credentials.js'
import type { Grant } from '../../../src/grants/grant.js'
import { createMemoryStore } from '../../../src/open-store.js'
import { ROLE, awsDetail } from './fixtures.js'

/**
 * A revocation racing AssumeRole: credentials STS vended for a grant revoked during the call never
 * leave the broker, and a delegated grant counts as revoked when any grant above it is.
 */
const clock = manualClock(Date.now())
const now = Math.floor(clock() / 1000)

function grant(clientId: string, delegatedFrom?: Grant): Grant {
  const g: Grant = {
    id: randomUUID(),
    clientId,
    task: { id: 'OPS-7' },
    manifestSha256: 'ab'.repeat(32),
    authorizationDetails: [awsDetail()],
    ruleIds: ['aws-docs'],
    issuedAt: now,
    expiresAt: now + 900,
  }
  if (delegatedFrom) {
    const parent = { clientId: delegatedFrom.clientId, grantId: delegatedFrom.id }
    g.delegation = {
      parentId: parent.grantId,
      parentClientId: parent.clientId,
      ancestors: [...(delegatedFrom.delegation?.ancestors ?? []), parent],
      depth: (delegatedFrom.delegation?.depth ?? 0) + 1,
      maxDepth: 2,
      subject: 'planner',
      act: { sub: clientId },
    }
  }
  return g
}

/** Vends for `holder`, with STS answering after `duringCall` ran (the racing revocation). */
async function vendWhile(store: ReturnType<typeof createMemoryStore>, holder: Grant, duringCall: () => Promise<unknown>) {
  const sts = {
    send: async () => {
      await duringCall()
      return {
        Credentials: { AccessKeyId: 'ASIA', SecretAccessKey: 's', SessionToken: 't', Expiration: new Date((now + 900) * 1000) },
        AssumedRoleUser: { Arn: `arn:aws:sts::123456789012:assumed-role/writ-docs/${holder.id}` },
      }
    },
  } as unknown as STSClient
  return vendAwsCredentials(
    {
      sts,
      record: createMemorySessionRecord({ clock }),
      store: store.grants,
      settings: { roles: [{ arn: ROLE, maxSessionSeconds: 3600 }], roleChaining: false },
      clock,
    },
    { grant: holder, roleArn: ROLE },
  )
}

const revocation = { by: 'admin', reason: 'race test', at: now }

describe('AWS credentials vended while the grant is revoked', () => {
  it('returns them when nothing was revoked', async () => {
    const store = createMemoryStore({ clock })
    const root = grant('planner')
    await store.grants.createGrant(root)
    await expect(vendWhile(store, root, async () => undefined)).resolves.toMatchObject({ AccessKeyId: 'ASIA' })
    await store.close()
  })

  it('returns none for a grant revoked during the call', async () => {
    const store = createMemoryStore({ clock })
    const root = grant('planner')
    await store.grants.createGrant(root)
    await expect(vendWhile(store, root, () => store.grants.revokeGrant('planner', root.id, revocation))).rejects.toMatchObject({
      code: 'invalid_token',
      status: 401,
    })
    await store.close()
  })

  it('returns none for a delegated grant whose root was revoked during the call, its own record still there', async () => {
    const store = createMemoryStore({ clock })
    const root = grant('planner')
    const child = grant('worker', root)
    await store.grants.createGrant(root)
    await store.grants.createGrant(child, { parent: { clientId: 'planner', grantId: root.id }, ancestors: child.delegation!.ancestors })
    await expect(vendWhile(store, child, () => store.grants.revokeGrant('planner', root.id, revocation))).rejects.toMatchObject({
      code: 'invalid_token',
      status: 401,
    })
    expect(await store.grants.getGrant('worker', child.id)).toMatchObject({ state: 'live' })
    await store.close()
  })
})
