import { compactVerify, createLocalJWKSet } from 'jose'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { AuditLog } from '../../src/audit/audit-log.js'
import type { AuditLogOptions } from '../../src/audit/create-audit-log.js'
import { exportAudit } from '../../src/audit/export-audit.js'
import { encodeGrantIssued, grantIssuedEvent } from '../../src/grants/grant-issued-event.js'
import { hashAuditEvent } from '../../src/audit/hash-audit-event.js'
import { GENESIS_HASH, type AppendedEvent, type AuditEvent, type AuditEventInput } from '../../src/audit/types.js'
import { verifyChain } from '../../src/audit/verify-chain.js'
import { manualClock } from '../../src/clock.js'
import { WritError } from '../../src/errors.js'
import type { KeyManager } from '../../src/tokens/index.js'
import { sampleEvents, testKeys } from './helpers.js'

export interface AuditLogFactory {
  (options: AuditLogOptions): Promise<AuditLog>
}

const lines = (events: AuditEvent[]): string[] => events.map((e) => JSON.stringify(e))

/** The contract every audit log implementation passes (memory and Redis). */
export function auditLogContract(name: string, open: AuditLogFactory): void {
  describe(`${name} audit log`, () => {
    const opened: AuditLog[] = []
    afterEach(async () => {
      for (const log of opened.splice(0)) await log.close()
    })

    async function make(overrides: Partial<AuditLogOptions> = {}) {
      const clock = manualClock(Date.UTC(2026, 0, 1))
      const keys: KeyManager = await testKeys(clock)
      const log = await open({ clock, issuer: 'https://writ.test', signer: keys, checkpointEveryEvents: 1000, ...overrides })
      opened.push(log)
      return { log, keys, clock }
    }

    it('chains every event to the one before, from the genesis hash', async () => {
      const { log } = await make({ checkpointEverySeconds: 3600 })
      const appended: AppendedEvent[] = []
      for (const event of sampleEvents(5)) appended.push(await log.append(event))
      const events = (await log.read()).filter((e) => e.type !== 'audit.checkpoint')
      expect(events.map(({ prev: _p, hash: _h, ...rest }) => rest)).toEqual(appended)
      expect(events[0]!.prev).toBe(GENESIS_HASH)
      const all = await log.read()
      all.forEach((e, i) => {
        expect(e.seq).toBe(i + 1)
        expect(hashAuditEvent(e)).toBe(e.hash)
        if (i > 0) expect(e.prev).toBe(all[i - 1]!.hash)
      })
      expect(await log.head()).toEqual({ seq: all.length, hash: all.at(-1)!.hash, checkpointSeq: expect.any(Number) })
    })

    it('gives concurrent appends distinct seqs in the order they were made', async () => {
      const { log, keys } = await make()
      const inputs = sampleEvents(60)
      const appended = await Promise.all(inputs.map((e) => log.append(e)))
      const seqs = appended.map((e) => e.seq)
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
      expect(new Set(seqs).size).toBe(60)
      appended.forEach((e, i) => expect(e.type).toBe(inputs[i]!.type))
      expect(await verifyChain(lines(await log.read()), { keys: keys.jwks(), requireSeal: false })).toMatchObject({ ok: true })
      // Chained in batches: each task's index lists every one of its events, in order.
      for (const task of new Set(appended.flatMap((e) => ('task' in e && typeof e.task === 'string' ? [e.task] : [])))) {
        const expected = appended.filter((e) => 'task' in e && e.task === task).map((e) => e.seq)
        expect(expected.length).toBeGreaterThan(1)
        expect((await log.find({ taskId: task })).map((e) => e.seq)).toEqual(expected)
      }
    })

    it('appends a checkpoint signed by the current key every N events', async () => {
      const { log, keys } = await make({ checkpointEveryEvents: 4, checkpointEverySeconds: 3600 })
      for (const event of sampleEvents(10)) await log.append(event)
      const all = await log.read()
      const checkpoints = all.filter((e) => e.type === 'audit.checkpoint')
      expect(checkpoints.length).toBeGreaterThanOrEqual(2)
      const jwks = createLocalJWKSet(keys.jwks())
      for (const cp of checkpoints) {
        if (cp.type !== 'audit.checkpoint') throw new Error('unreachable')
        const { payload, protectedHeader } = await compactVerify(cp.checkpoint, jwks)
        expect(protectedHeader.typ).toBe('writ-audit-checkpoint+jwt')
        const claims = JSON.parse(new TextDecoder().decode(payload)) as { iss: string; seq: number; hash: string }
        // It signs an earlier event's seq and hash (events taken in meanwhile may lie between).
        expect(claims.iss).toBe('https://writ.test')
        expect(claims.seq).toBeLessThan(cp.seq)
        expect(all.find((e) => e.seq === claims.seq)!.hash).toBe(claims.hash)
        expect(cp.jwk.kid).toBe(keys.signingKey().kid)
      }
      const result = await verifyChain(lines(all), { keys: keys.jwks(), requireSeal: false })
      expect(result).toMatchObject({ ok: true, checkpoints: checkpoints.length })
    })

    it('appends a checkpoint once T seconds have passed since the last one', async () => {
      const { log, clock } = await make({ checkpointEverySeconds: 60 })
      const [a, b] = sampleEvents(2)
      await log.append(a!)
      const afterFirst = (await log.read()).filter((e) => e.type === 'audit.checkpoint').length
      clock.advance(30_000)
      await log.append(b!)
      expect((await log.read()).filter((e) => e.type === 'audit.checkpoint').length).toBe(afterFirst)
      clock.advance(31_000)
      const c = await log.append(sampleEvents(1)[0]!)
      const all = await log.read()
      expect(all.filter((e) => e.type === 'audit.checkpoint').length).toBe(afterFirst + 1)
      expect(all.at(-1)).toMatchObject({ type: 'audit.checkpoint', seq: c.seq + 1 })
    })

    it('checkpoints on request, and not twice in a row', async () => {
      const { log } = await make({ checkpointEverySeconds: 3600 })
      for (const event of sampleEvents(3)) await log.append(event)
      await log.checkpoint()
      const last = await log.append(sampleEvents(1)[0]!)
      const cp = await log.checkpoint()
      const [chainedLast] = await log.read({ fromSeq: last.seq, limit: 1 })
      expect(cp).toMatchObject({ type: 'audit.checkpoint', seq: last.seq + 1, prev: chainedLast!.hash })
      expect(await log.checkpoint()).toBeNull()
      expect((await log.head()).checkpointSeq).toBe(last.seq + 1)
    })

    it('finds events by grant, task, approval, approver, bulk revocation and export', async () => {
      const { log } = await make()
      const issued = await log.append({
        type: 'grant.issued', actor: 'client:agent-a', client: 'agent-a', grant: 'G1', task: 'T1', manifest_sha256: 'b'.repeat(64),
        rules: ['deploy-prod'], authorization_details: [{ type: 'deploy', actions: ['create'] }], issued_at: 1, expires_at: 2,
        approval: 'A1', approvers: [{ sub: 'alice@example.com', aaguid: '00000000-0000-0000-0000-000000000000', credential_id: 'c1', at: 1 }],
      })
      const approved = await log.append({ type: 'approval.approved', actor: 'approver:alice@example.com', approval: 'A1', approver: 'alice@example.com', credential_id: 'c1', aaguid: '00000000-0000-0000-0000-000000000000' })
      const other = await log.append({ type: 'token.denied', actor: 'client:agent-b', client: 'agent-b', task: 'T2', reason: 'access_denied', message: 'no' })
      const bulk = await log.append({ type: 'grant.revoked', actor: 'admin', scope: 'client', client: 'agent-a', reason: 'incident', count: 1 })
      const own = await log.append({ type: 'grant.revoked', actor: 'admin', scope: 'grant', grant: 'G1', reason: 'done', count: 0 })
      expect((await log.find({ grantId: 'G1' })).map((e) => e.seq)).toEqual([issued.seq, own.seq])
      expect((await log.find({ taskId: 'T1' })).map((e) => e.seq)).toEqual([issued.seq])
      expect((await log.find({ taskId: 'T2' })).map((e) => e.seq)).toEqual([other.seq])
      expect((await log.find({ approvalId: 'A1' })).map((e) => e.seq)).toEqual([issued.seq, approved.seq])
      expect((await log.find({ approver: 'alice@example.com' })).map((e) => e.seq)).toEqual([issued.seq, approved.seq])
      expect((await log.find({ bulkRevocations: true })).map((e) => e.seq)).toEqual([bulk.seq])
      expect(await log.find({ grantId: 'nope' })).toEqual([])
      expect(await log.find({ grantId: 'G1' }, { limit: 1 })).toHaveLength(1)
    })

    it('stores an encoded grant.issued as the same event append would, chained and indexed', async () => {
      const { log, keys } = await make()
      const grant = {
        id: 'G-enc', clientId: 'agent-a', task: { id: 'T-enc', purpose: 'docs' }, manifestSha256: 'c'.repeat(64),
        authorizationDetails: [{ type: 'repo', actions: ['read'], identifier: 'docs/**' }], ruleIds: ['docs-read'],
        issuedAt: 1_800_000_000, expiresAt: 1_800_000_900,
      }
      const before = await log.append(sampleEvents(1)[0]!)
      const seq = await log.appendEncoded(encodeGrantIssued(grant))
      expect(seq).toBe(before.seq + 1)
      const [stored] = await log.read({ fromSeq: seq, limit: 1 })
      const { seq: _s, prev: _p, hash: _h, time, ...rest } = stored!
      expect(rest).toEqual(grantIssuedEvent(grant))
      expect(time).toBe(before.time)
      expect((await log.find({ grantId: 'G-enc' })).map((e) => e.seq)).toEqual([seq])
      expect((await log.find({ taskId: 'T-enc' })).map((e) => e.seq)).toEqual([seq])
      expect(await verifyChain(lines(await log.read()), { keys: keys.jwks(), requireSeal: false })).toMatchObject({ ok: true })
      // An encoder that throws writes nothing.
      const head = await log.head()
      const bad = { ...encodeGrantIssued(grant), encode: () => { throw new TypeError('lone surrogate') } }
      await expect(log.appendEncoded(bad)).rejects.toThrow(TypeError)
      expect(await log.head()).toEqual(head)
    })

    it('chains a full batch at once, and a partial one only once its delay is over', async () => {
      const mirrored: string[] = []
      const { log } = await make({ batchMaxEvents: 4, chainDelayMs: 10_000, checkpointEverySeconds: 3600, mirror: (line) => mirrored.push(line) })
      const [a, b, c, d] = sampleEvents(4)
      await Promise.all([log.append(a!), log.append(b!), log.append(c!)])
      await new Promise((r) => setTimeout(r, 200))
      expect(mirrored).toEqual([])
      await log.append(d!)
      // The four, then the first checkpoint (it falls due with the first batch).
      const types = () => mirrored.map((l) => (JSON.parse(l) as AuditEvent).type).filter((t) => t !== 'audit.checkpoint')
      await vi.waitFor(() => expect(types()).toHaveLength(4), { timeout: 3000, interval: 20 })
      expect(types()).toEqual([a, b, c, d].map((e) => e!.type))
    })

    it('reads a range from a seq, at most limit events', async () => {
      const { log } = await make()
      for (const event of sampleEvents(8)) await log.append(event)
      const page = await log.read({ fromSeq: 3, limit: 4 })
      expect(page.map((e) => e.seq)).toEqual([3, 4, 5, 6])
      expect(await log.read({ fromSeq: 1000 })).toEqual([])
      await expect(log.read({ fromSeq: 0 })).rejects.toThrow(RangeError)
      await expect(log.read({ limit: 10_001 })).rejects.toThrow(RangeError)
    })

    it('refuses an event that is not plain JSON, and still writes the rest of its batch', async () => {
      const { log } = await make()
      const [a, b] = sampleEvents(2)
      const bad = { type: 'admin.action', actor: 'admin', method: 'POST', path: '/x', status: Number.NaN } as AuditEventInput
      const huge = { type: 'admin.action', actor: 'admin', method: 'POST', path: 'x'.repeat(300_000), status: 200 } as AuditEventInput
      const [first, refused, tooBig, second] = await Promise.allSettled([log.append(a!), log.append(bad), log.append(huge), log.append(b!)])
      expect(refused).toMatchObject({ status: 'rejected', reason: expect.any(TypeError) })
      expect(tooBig).toMatchObject({ status: 'rejected', reason: expect.any(TypeError) })
      if (first.status !== 'fulfilled' || second.status !== 'fulfilled') throw new Error('expected both written')
      expect(second.value.seq).toBe(first.value.seq + 1)
      const [one, two] = await log.read({ fromSeq: first.value.seq, limit: 2 })
      expect(two!.prev).toBe(one!.hash)
      await expect(log.append({ actor: 'admin' } as unknown as AuditEventInput)).rejects.toThrow(TypeError)
    })

    it('trims only exported events, records the trim first, and keeps the chain verifiable', async () => {
      const { log, keys, clock } = await make({ checkpointEveryEvents: 5, checkpointEverySeconds: 3600 })
      for (const event of sampleEvents(12)) await log.append(event)
      const head = await log.head()
      // Nothing exported yet: refused, nothing removed.
      await expect(log.trim(5, { exportedTo: 's3://archive/x' })).rejects.toMatchObject({ code: 'invalid_request' })
      expect((await log.read({ limit: 1 }))[0]!.seq).toBe(1)
      // Exported through seq 6 only: trimming before 10 is still refused.
      await exportAudit(log, { signer: keys, issuer: 'https://writ.test', clock, fromSeq: 1, limit: 6, destination: 'file:a' })
      await expect(log.trim(10, { exportedTo: 'file:a' })).rejects.toThrow(/not all been exported/)
      const trimmed = await log.trim(6, { exportedTo: 'file:a' })
      expect(trimmed).toBe(5)
      const rest = await log.read()
      expect(rest[0]!.seq).toBe(6)
      expect(rest.find((e) => e.type === 'audit.trimmed')).toMatchObject({ before_seq: 6, exported_to: 'file:a', count: 5 })
      expect(rest.find((e) => e.type === 'audit.exported')).toMatchObject({ from_seq: 1, to_seq: 6 })
      // The rest still verifies as a chain (it starts where the trim left it).
      expect(await verifyChain(lines(rest), { keys: keys.jwks(), requireSeal: false })).toMatchObject({ ok: true, firstSeq: 6 })
      // The last event is always kept.
      await expect(log.trim(head.seq + 100, { exportedTo: 'file:a' })).rejects.toThrow(/before_seq/)
      await expect(log.trim(3, { exportedTo: ' ' })).rejects.toThrow(/exported_to/)
      // Index entries of trimmed events are gone: nothing refers to a removed event.
      for (const e of rest) if ('grant' in e && typeof e.grant === 'string') expect((await log.find({ grantId: e.grant })).every((f) => f.seq >= 6)).toBe(true)
    })

    it('fails appends after close with a 503 WritError', async () => {
      const { log } = await make()
      await log.close()
      const err = await log.append(sampleEvents(1)[0]!).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(WritError)
      expect(err).toMatchObject({ code: 'temporarily_unavailable', status: 503 })
    })
  })
}
