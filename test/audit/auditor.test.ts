import { describe, expect, it } from 'vitest'
import { createAuditor } from '../../src/audit/create-auditor.js'
import { createMemoryAuditLog } from '../../src/audit/memory-audit-log.js'
import { manualClock } from '../../src/clock.js'
import { WritError } from '../../src/errors.js'
import { createLogger } from '../../src/logger.js'
import { sampleEvents, testKeys } from './helpers.js'

async function setup(options: { maxRepeatKeys?: number } = {}) {
  const clock = manualClock(Date.UTC(2026, 0, 1))
  const log = createMemoryAuditLog({ clock, issuer: 'https://writ.test', signer: await testKeys(clock), checkpointEverySeconds: 3600 })
  const logged: string[] = []
  const logger = createLogger('debug', (line) => logged.push(line), clock)
  const audit = createAuditor({ log, logger, clock, repeatWindowSeconds: 60, ...options })
  const failures = async () => (await log.read()).filter((e) => e.type === 'client.auth_failed')
  return { clock, log, audit, logged, failures }
}

const failure = (client: string) =>
  ({ type: 'client.auth_failed', actor: 'anonymous', client, reason: 'wrong secret' }) as const

describe('auditor', () => {
  it('coalesces repeated failures per key: the first at once, the rest as one count per window', async () => {
    const { audit, clock, failures } = await setup()
    for (let i = 0; i < 5; i++) {
      audit.noteRepeated('client:agent-a', failure('agent-a'))
      clock.advance(1000)
    }
    await audit.log!.flush()
    expect(await failures()).toEqual([expect.objectContaining({ client: 'agent-a', count: 1 })])
    // The window ends: the next failure notes the four held back, then itself.
    clock.advance(60_000)
    audit.noteRepeated('client:agent-a', failure('agent-a'))
    await audit.log!.flush()
    const [, held, next] = await failures()
    expect(held).toMatchObject({ count: 4, first_at: '2026-01-01T00:00:01.000Z', last_at: '2026-01-01T00:00:04.000Z' })
    expect(next).toMatchObject({ count: 1 })
    // flush() notes what is held back without waiting for the window.
    audit.noteRepeated('client:agent-a', failure('agent-a'))
    await audit.flush()
    expect((await failures()).at(-1)).toMatchObject({ count: 1 })
    expect(await failures()).toHaveLength(4)
  })

  it('counts failures beyond the key limit under one key, so a flood cannot grow memory or the log', async () => {
    const { audit, failures } = await setup({ maxRepeatKeys: 2 })
    for (let i = 0; i < 50; i++) audit.noteRepeated(`client:c${i}`, failure(`c${i}`))
    await audit.flush()
    const events = await failures()
    expect(events.map((e) => e.type === 'client.auth_failed' && e.client)).toEqual(['c0', 'c1', 'c2', '*'])
    expect(events.at(-1)).toMatchObject({ count: 47 })
  })

  it('records fail closed with a 503, and notes never throw but log the whole event', async () => {
    const { audit, log, logged } = await setup()
    await log.close()
    const err = await audit.record(sampleEvents(1)[0]!).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WritError)
    expect(err).toMatchObject({ code: 'temporarily_unavailable', status: 503 })
    await expect(audit.note({ type: 'grant.revoked', actor: 'admin', scope: 'all', reason: 'incident', count: 3 })).resolves.toBeUndefined()
    const line = JSON.parse(logged.at(-1)!)
    expect(line).toMatchObject({ level: 'error', msg: 'audit event not written', event: { type: 'grant.revoked', reason: 'incident', count: 3 } })
  })

  it('does nothing when auditing is off', async () => {
    const clock = manualClock()
    const audit = createAuditor({ log: undefined, logger: createLogger('silent'), clock })
    expect(audit.enabled).toBe(false)
    await expect(audit.record(sampleEvents(1)[0]!)).resolves.toBeUndefined()
    audit.noteRepeated('x', failure('x'))
    await audit.close()
  })
})
