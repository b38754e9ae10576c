import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRole, makeAwsBroker, type AwsTestBroker } from '../credentials/aws/aws-broker.js'
import { awsDetail, ROLE } from '../credentials/aws/fixtures.js'
import { startMoto, type PrivateMoto } from '../helpers/moto.js'

let moto: PrivateMoto
let broker: AwsTestBroker

beforeAll(async () => {
  moto = await startMoto()
  broker = await makeAwsBroker(moto)
  await createRole(broker.iam, 'writ-docs')
}, 60_000)
afterAll(async () => {
  await broker?.close()
  await moto?.stop()
})

describe('POST /v1/credentials/aws under a lock', () => {
  it.each([
    ['client', { kind: 'client', id: 'agent-a' }],
    ['task', { kind: 'task', id: 'AWS-LOCK' }],
  ] as const)('vends nothing on a live token of a locked %s, and again once unlocked', async (_kind, target) => {
    const { access_token } = await broker.token([awsDetail({ actions: ['s3:GetObject'] })], { taskId: 'AWS-LOCK' })
    // A lock set with `revoke: false` leaves the token live: the lock alone must stop vending.
    const now = Math.floor(broker.clock() / 1000)
    const lock = { id: `aws-${target.kind}`, target, reason: 'investigating', by: 'admin', createdAt: now }
    await broker.store.locks.putLock(lock)
    moto.clearRequests()
    const refused = await broker.credentials(access_token, { role_arn: ROLE })
    expect(refused.status).toBe(403)
    expect(await refused.json()).toEqual({
      error: 'access_denied',
      error_description: `refused: ${target.kind} ${target.id} is locked (lock ${lock.id}: investigating)`,
    })
    expect(moto.requests('AssumeRole')).toEqual([])
    await broker.store.locks.removeLock(lock.id)
    expect((await broker.credentials(access_token, { role_arn: ROLE })).status).toBe(200)
  })
})
