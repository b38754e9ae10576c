import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApprovalStore } from '../../src/approvals/store/store.js'
import { EXPIRED_RETENTION_SECONDS, MAX_JOINED_SECRETS } from '../../src/approvals/store/store.js'
import type {
  ApprovalEvidence,
  ApprovalRequest,
  ApprovalVote,
  ApproverCredential,
  EnrolmentInvite,
} from '../../src/approvals/types.js'
import type { manualClock } from '../../src/clock.js'
import { WritError } from '../../src/errors.js'

export interface ApprovalStoreHarness {
  store: ApprovalStore
  clock: ReturnType<typeof manualClock>
  cleanup(): Promise<void>
}

/**
 * The ApprovalStore contract: every implementation must pass it unchanged. Each test uses fresh
 * ids, so tests never see each other's records.
 */
export function describeApprovalStoreContract(name: string, make: () => Promise<ApprovalStoreHarness>): void {
  describe(`ApprovalStore contract: ${name}`, () => {
    let h: ApprovalStoreHarness
    let store: ApprovalStore
    beforeAll(async () => {
      h = await make()
      store = h.store
    })
    afterAll(() => h.cleanup())
    const now = (): number => Math.floor(h.clock() / 1000)

    const request = (over: Partial<ApprovalRequest> = {}): ApprovalRequest => ({
      id: randomUUID(),
      clientId: 'agent-a',
      secretSha256: 'ab'.repeat(32),
      manifest: { task: { id: 'T-1', requested_by: 'carol@example.com' }, grants: [{ type: 'deploy', actions: ['create'], n: 1e21 }] },
      manifestSha256: 'cd'.repeat(32),
      ttlSeconds: 300,
      requirements: [{ ruleId: 'r', approvers: 2, from: 'g', requireDpop: false, forbidSelfApproval: true }],
      createdAt: now(),
      expiresAt: now() + 300,
      intervalSeconds: 5,
      ...over,
    })
    const vote = (sub: string, credentialId: string = randomUUID()): ApprovalVote => ({
      sub,
      credentialId,
      aaguid: '00000000-0000-0000-0000-000000000000',
      fmt: 'packed',
      publicKey: 'pk',
      nonce: 'n',
      exp: now() + 60,
      authenticatorData: 'ad',
      clientDataJSON: 'cd',
      signature: 'sig',
      counter: 1,
      at: now(),
    })

    it('stores a request as it was given, pending, and reads it back until its retention ends', async () => {
      const r = request()
      await store.createRequest(r)
      expect(await store.getRequest(r.id)).toEqual({ request: r, status: 'pending', votes: [] })
      h.clock.advance((300 + EXPIRED_RETENTION_SECONDS) * 1000 - 1000)
      expect((await store.getRequest(r.id))?.status).toBe('pending')
      h.clock.advance(1000)
      expect(await store.getRequest(r.id)).toBeNull()
    })

    it('stores a request without requirements as approved', async () => {
      const r = request({ requirements: [] })
      await store.createRequest(r)
      expect((await store.getRequest(r.id))?.status).toBe('approved')
    })

    it('never reuses an approval id, and refuses an expired request', async () => {
      const r = request()
      await store.createRequest(r)
      await expect(store.createRequest(r)).rejects.toBeInstanceOf(WritError)
      await expect(store.createRequest(request({ expiresAt: now() }))).rejects.toBeInstanceOf(RangeError)
    })

    it('takes a challenge once, only for its own request, and not after it expires', async () => {
      const r = request()
      const other = request()
      await store.createRequest(r)
      await store.createRequest(other)
      const challenge = { challenge: randomUUID(), nonce: 'n', exp: now() + 60, action: 'approve' as const }
      await store.putChallenge(r.id, challenge)
      expect(await store.takeChallenge(other.id, challenge.challenge)).toBeNull()
      const results = await Promise.all([1, 2, 3].map(() => store.takeChallenge(r.id, challenge.challenge)))
      expect(results.filter(Boolean)).toEqual([challenge])
      const late = { ...challenge, challenge: randomUUID() }
      await store.putChallenge(r.id, late)
      h.clock.advance(61_000)
      expect(await store.takeChallenge(r.id, late.challenge)).toBeNull()
    })

    it('counts a person once and a key once, detects conflicts, and completes on request', async () => {
      const r = request()
      await store.createRequest(r)
      const first = vote('alice', 'k1')
      expect(await store.addVote(r.id, first, { expectedVotes: 0, completes: false })).toEqual({ outcome: 'recorded', status: 'pending' })
      expect(await store.addVote(r.id, vote('alice', 'k2'), { expectedVotes: 1, completes: true })).toEqual({ outcome: 'duplicate_approver' })
      expect(await store.addVote(r.id, vote('bob', 'k1'), { expectedVotes: 1, completes: true })).toEqual({ outcome: 'duplicate_key' })
      expect(await store.addVote(r.id, vote('bob', 'k3'), { expectedVotes: 0, completes: true })).toEqual({ outcome: 'conflict' })
      const second = vote('bob', 'k3')
      expect(await store.addVote(r.id, second, { expectedVotes: 1, completes: true })).toEqual({ outcome: 'recorded', status: 'approved' })
      expect(await store.getRequest(r.id)).toMatchObject({ status: 'approved', votes: [first, second] })
      expect(await store.addVote(r.id, vote('carol'), { expectedVotes: 2, completes: true })).toEqual({ outcome: 'closed', status: 'approved' })
    })

    it('lets exactly one of two concurrent votes on the same count land', async () => {
      const r = request()
      await store.createRequest(r)
      const outcomes = await Promise.all([
        store.addVote(r.id, vote('alice'), { expectedVotes: 0, completes: false }),
        store.addVote(r.id, vote('bob'), { expectedVotes: 0, completes: false }),
      ])
      expect(outcomes.map((o) => o.outcome).sort()).toEqual(['conflict', 'recorded'])
    })

    it('denies a pending request once, and nothing decides an expired or unknown one', async () => {
      const r = request()
      await store.createRequest(r)
      const denial = { sub: 'bob', credentialId: 'k', at: now() }
      expect(await store.deny(r.id, denial)).toEqual({ outcome: 'denied' })
      expect(await store.getRequest(r.id)).toMatchObject({ status: 'denied', denial })
      expect(await store.deny(r.id, denial)).toEqual({ outcome: 'closed', status: 'denied' })
      expect(await store.addVote(r.id, vote('x'), { expectedVotes: 0, completes: true })).toEqual({ outcome: 'closed', status: 'denied' })
      const old = request()
      await store.createRequest(old)
      h.clock.advance(300_000)
      expect(await store.deny(old.id, denial)).toEqual({ outcome: 'closed', status: 'expired' })
      expect(await store.addVote(old.id, vote('x'), { expectedVotes: 0, completes: true })).toEqual({ outcome: 'closed', status: 'expired' })
      expect(await store.deny('unknown', denial)).toEqual({ outcome: 'closed', status: 'unknown' })
    })

    it('lists pending requests soonest expiry first, leaving out decided and expired ones', async () => {
      const later = request({ expiresAt: now() + 250 })
      const sooner = request({ expiresAt: now() + 200 })
      const denied = request()
      const automatic = request({ requirements: [] })
      for (const r of [later, sooner, denied, automatic]) await store.createRequest(r)
      await store.deny(denied.id, { sub: 'bob', credentialId: 'k', at: now() })
      const mine = new Set([later.id, sooner.id, denied.id, automatic.id])
      const listed = (await store.listPending()).filter((r) => mine.has(r.request.id))
      expect(listed.map((r) => r.request.id)).toEqual([sooner.id, later.id])
      expect(listed.every((r) => r.status === 'pending')).toBe(true)
      h.clock.advance(220_000)
      const afterExpiry = (await store.listPending()).filter((r) => mine.has(r.request.id))
      expect(afterExpiry.map((r) => r.request.id)).toEqual([later.id])
    })

    it('caps the pending requests of a client, and joins an identical pending request', async () => {
      const clientId = `c-${randomUUID()}`
      const distinct = (n: number, over: Partial<ApprovalRequest> = {}) =>
        request({ clientId, manifestSha256: n.toString(16).padStart(64, '0'), ...over })
      const bound = { maxPending: 2, coalesce: true }
      const first = distinct(1, { expiresAt: now() + 100 })
      expect(await store.createRequest(first, bound)).toEqual({ outcome: 'created' })
      expect(await store.createRequest(distinct(2), bound)).toEqual({ outcome: 'created' })
      const third = distinct(3)
      expect(await store.createRequest(third, bound)).toEqual({
        outcome: 'too_many_pending',
        pending: 2,
        earliestExpiresAt: first.expiresAt,
      })
      expect(await store.getRequest(third.id)).toBeNull()
      // Identical (same client, manifest, key, requirements, life): joins, adding its secret.
      const again = distinct(1, { secretSha256: 'ef'.repeat(32) })
      expect(await store.createRequest(again, bound)).toEqual({ outcome: 'joined', request: first })
      expect(await store.getRequest(again.id)).toBeNull()
      expect((await store.getRequest(first.id))?.joinedSecrets).toEqual(['ef'.repeat(32)])
      // A different DPoP key is a different request (and the cap still holds).
      expect((await store.createRequest(distinct(1, { cnfJkt: 'jkt' }), bound)).outcome).toBe('too_many_pending')
      for (let i = 1; i < MAX_JOINED_SECRETS; i++) await store.createRequest(distinct(1), bound)
      expect(await store.createRequest(distinct(1), bound)).toEqual({ outcome: 'too_many_joined', request: first })
      // Requests needing no human, other clients and unbounded creation are not held back.
      expect((await store.createRequest(distinct(4, { requirements: [] }), bound)).outcome).toBe('created')
      expect((await store.createRequest(request({ clientId: `c-${randomUUID()}` }), bound)).outcome).toBe('created')
      expect((await store.createRequest(distinct(5))).outcome).toBe('created')
      // A decided request frees its place, and is joined no more.
      await store.deny(first.id, { sub: 'bob', credentialId: 'k', at: now() })
      const fresh = distinct(1)
      expect(await store.createRequest(fresh, { maxPending: 3, coalesce: true })).toEqual({ outcome: 'created' })
      // An expired one too.
      h.clock.advance(301_000)
      expect((await store.createRequest(distinct(6), bound)).outcome).toBe('created')
    })

    it('lets no more than the cap through when a client floods concurrently', async () => {
      const clientId = `c-${randomUUID()}`
      const outcomes = await Promise.all(
        Array.from({ length: 30 }, (_, n) =>
          store.createRequest(request({ clientId, manifestSha256: n.toString(16).padStart(64, '0') }), {
            maxPending: 3,
            coalesce: true,
          }),
        ),
      )
      expect(outcomes.filter((o) => o.outcome === 'created')).toHaveLength(3)
      const identical = await Promise.all(
        Array.from({ length: 10 }, () =>
          store.createRequest(request({ clientId: `${clientId}-same` }), { maxPending: 3, coalesce: true }),
        ),
      )
      expect(identical.filter((o) => o.outcome === 'created')).toHaveLength(1)
      expect(identical.filter((o) => o.outcome === 'joined')).toHaveLength(9)
    })

    it('ends open requests by id, client, task, approver or all; ended ones take no decision and are never redeemed', async () => {
      const revocation = { by: 'admin' as const, reason: 'incident', at: now() }
      const tag = randomUUID()
      const task = (id: string) => ({ task: { id }, grants: [{ type: 'deploy' }] })
      const byId = request()
      const byClient = request({ clientId: `c-${tag}` })
      const otherClient = request({ clientId: `d-${tag}` })
      const byTask = request({ manifest: task(`t-${tag}`) })
      const byApprover = request()
      const otherApprover = request()
      const approved = request({ clientId: `c-${tag}`, requirements: [] })
      for (const r of [byId, byClient, otherClient, byTask, byApprover, otherApprover, approved]) await store.createRequest(r)
      await store.addVote(byApprover.id, vote(`alice-${tag}`), { expectedVotes: 0, completes: true })
      await store.addVote(otherApprover.id, vote(`bob-${tag}`), { expectedVotes: 0, completes: false })

      const ids = (records: { request: { id: string } }[]) => records.map((r) => r.request.id).sort()
      expect(ids(await store.endRequests({ approvalId: byId.id }, revocation))).toEqual([byId.id])
      expect(ids(await store.endRequests({ clientId: `c-${tag}` }, revocation))).toEqual([byClient.id, approved.id].sort())
      expect(ids(await store.endRequests({ taskId: `t-${tag}` }, revocation))).toEqual([byTask.id])
      const ended = await store.endRequests({ approver: `alice-${tag}` }, revocation)
      expect(ended).toEqual([expect.objectContaining({ status: 'revoked', revocation, votes: [expect.objectContaining({ sub: `alice-${tag}` })] })])
      expect(await store.endRequests({ approvalId: byId.id }, revocation)).toEqual([])

      for (const r of [byId, byClient, byTask, byApprover, approved]) {
        expect(await store.getRequest(r.id)).toMatchObject({ status: 'revoked', revocation })
        expect(await store.redeem(r.id)).toBe(false)
        expect(await store.addVote(r.id, vote('zed'), { expectedVotes: 0, completes: true })).toMatchObject({ outcome: 'closed', status: 'revoked' })
        expect(await store.deny(r.id, { sub: 'zed', credentialId: 'k', at: now() })).toEqual({ outcome: 'closed', status: 'revoked' })
        expect(await store.withdrawVotes(r.id, [], 0)).toMatchObject({ outcome: 'closed', status: 'revoked' })
      }
      for (const r of [otherClient, otherApprover]) expect((await store.getRequest(r.id))?.status).toBe('pending')
      expect(ids(await store.endRequests({ all: true }, revocation))).toEqual(expect.arrayContaining([otherClient.id, otherApprover.id]))
      expect((await store.getRequest(otherClient.id))?.status).toBe('revoked')
    })

    it('ends only open requests: redeemed, denied and expired ones stay as they are (a redeemed one is marked)', async () => {
      const revocation = { by: 'admin' as const, reason: 'r', at: now() }
      const clientId = `c-${randomUUID()}`
      const redeemed = request({ clientId, requirements: [] })
      const denied = request({ clientId })
      const old = request({ clientId, expiresAt: now() + 10 })
      for (const r of [redeemed, denied, old]) await store.createRequest(r)
      await store.redeem(redeemed.id)
      await store.deny(denied.id, { sub: 'bob', credentialId: 'k', at: now() })
      h.clock.advance(11_000)
      expect(await store.endRequests({ clientId }, revocation)).toEqual([])
      // A redeemed one keeps the revocation, for its redeemer to see once the grant is recorded.
      expect(await store.getRequest(redeemed.id)).toMatchObject({ status: 'redeemed', revocation })
      expect((await store.getRequest(denied.id))?.status).toBe('denied')
      expect((await store.getRequest(old.id))?.status).toBe('pending')
    })

    it('settles a redemption racing an end exactly one way', async () => {
      for (let i = 0; i < 10; i++) {
        const r = request({ requirements: [] })
        await store.createRequest(r)
        const [redeemed, ended] = await Promise.all([
          store.redeem(r.id),
          store.endRequests({ approvalId: r.id }, { by: 'admin', reason: 'race', at: now() }),
        ])
        expect(Number(redeemed) + ended.length).toBe(1)
        expect((await store.getRequest(r.id))?.status).toBe(redeemed ? 'redeemed' : 'revoked')
      }
    })

    it('withdraws votes and reopens the request, only on the votes the caller read', async () => {
      const r = request()
      await store.createRequest(r)
      const [a, b] = [vote('alice', 'ka'), vote('bob', 'kb')]
      await store.addVote(r.id, a, { expectedVotes: 0, completes: false })
      await store.addVote(r.id, b, { expectedVotes: 1, completes: true })
      expect(await store.withdrawVotes(r.id, ['ka'], 1)).toEqual({ outcome: 'conflict' })
      expect(await store.withdrawVotes(r.id, ['ka'], 2)).toEqual({ outcome: 'withdrawn' })
      expect(await store.getRequest(r.id)).toMatchObject({ status: 'pending', votes: [b] })
      // The person and key withdrawn may vote again; the order of the rest is kept.
      const again = vote('alice', 'ka')
      expect(await store.addVote(r.id, again, { expectedVotes: 1, completes: true })).toEqual({ outcome: 'recorded', status: 'approved' })
      expect((await store.getRequest(r.id))?.votes).toEqual([b, again])
      expect(await store.redeem(r.id)).toBe(true)
      expect(await store.withdrawVotes(r.id, ['ka'], 2)).toEqual({ outcome: 'closed', status: 'redeemed' })
      expect(await store.withdrawVotes('unknown', [], 0)).toEqual({ outcome: 'closed', status: 'unknown' })
    })

    it('redeems an approved, unexpired request exactly once', async () => {
      const r = request({ requirements: [] })
      await store.createRequest(r)
      const results = await Promise.all([1, 2, 3, 4].map(() => store.redeem(r.id)))
      expect(results.filter(Boolean)).toHaveLength(1)
      expect((await store.getRequest(r.id))?.status).toBe('redeemed')
      const pending = request()
      await store.createRequest(pending)
      expect(await store.redeem(pending.id)).toBe(false)
      const late = request({ requirements: [] })
      await store.createRequest(late)
      h.clock.advance(300_000)
      expect(await store.redeem(late.id)).toBe(false)
    })

    it('marks a request that expired undecided exactly once, and nothing else', async () => {
      const r = request()
      const denied = request()
      const automatic = request({ requirements: [] })
      for (const each of [r, denied, automatic]) await store.createRequest(each)
      await store.deny(denied.id, { sub: 'bob', credentialId: 'k', at: now() })
      expect(await store.markExpired(r.id)).toBe(false)
      h.clock.advance(300_000)
      const results = await Promise.all([1, 2, 3, 4].map(() => store.markExpired(r.id)))
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await store.markExpired(r.id)).toBe(false)
      expect((await store.getRequest(r.id))?.status).toBe('pending')
      expect(await store.markExpired(denied.id)).toBe(false)
      expect(await store.markExpired(automatic.id)).toBe(false)
      expect(await store.markExpired('unknown')).toBe(false)
    })

    it('answers slow_down to polls sooner than the interval, growing it by 5 s up to 60 s', async () => {
      const r = request()
      await store.createRequest(r)
      expect(await store.recordPoll(r.id)).toEqual({ slowDown: false, intervalSeconds: 5 })
      h.clock.advance(4_999)
      expect(await store.recordPoll(r.id)).toEqual({ slowDown: true, intervalSeconds: 10 })
      h.clock.advance(10_000)
      expect(await store.recordPoll(r.id)).toEqual({ slowDown: false, intervalSeconds: 10 })
      for (let i = 0; i < 20; i++) await store.recordPoll(r.id)
      expect((await store.recordPoll(r.id)).intervalSeconds).toBe(60)
    })

    it('keeps evidence for its retention period', async () => {
      const evidence: ApprovalEvidence = {
        version: 1,
        approvalId: randomUUID(),
        clientId: 'agent-a',
        manifest: request().manifest,
        manifestSha256: 'ef'.repeat(32),
        requirements: [],
        rpId: 'writ.test',
        origin: 'https://writ.test',
        votes: [vote('alice')],
        redeemedAt: now(),
      }
      await store.putEvidence(evidence, 3600)
      expect(await store.getEvidence(evidence.approvalId)).toEqual(evidence)
      expect(await store.getEvidence('nope')).toBeNull()
      await expect(store.putEvidence(evidence, 0)).rejects.toBeInstanceOf(RangeError)
    })

    const invite = (over: Partial<EnrolmentInvite> = {}): EnrolmentInvite => ({
      tokenSha256: randomUUID(),
      sub: `p-${randomUUID()}`,
      group: 'g',
      createdBy: 'admin',
      createdAt: now(),
      expiresAt: now() + 3600,
      ...over,
    })
    const credential = (sub: string, over: Partial<ApproverCredential> = {}): ApproverCredential => ({
      id: randomUUID(),
      sub,
      group: 'g',
      publicKey: 'pk',
      counter: 0,
      aaguid: '00000000-0000-0000-0000-000000000000',
      fmt: 'packed',
      attestation: 'verified',
      attestationObject: 'ao',
      userHandle: 'uh',
      enrolledAt: now(),
      ...over,
    })

    it('enrols with an invite exactly once, atomically with the key', async () => {
      const inv = invite()
      await store.createInvite(inv)
      expect(await store.getInvite(inv.tokenSha256)).toEqual(inv)
      const key = credential(inv.sub)
      const outcomes = await Promise.all([
        store.enrol(inv, key),
        store.enrol(inv, credential(inv.sub)),
      ])
      expect(outcomes.sort()).toEqual(['enrolled', 'invite_used'])
      expect(await store.getInvite(inv.tokenSha256)).toBeNull()
      expect((await store.listCredentials({ sub: inv.sub })).length).toBe(1)
    })

    it('refuses a credential id already enrolled, leaving the invite usable', async () => {
      const a = invite()
      await store.createInvite(a)
      const key = credential(a.sub)
      expect(await store.enrol(a, key)).toBe('enrolled')
      const b = invite()
      await store.createInvite(b)
      expect(await store.enrol(b, { ...key, sub: b.sub })).toBe('credential_exists')
      expect(await store.getInvite(b.tokenSha256)).toEqual(b)
      expect(await store.getCredential(key.id)).toMatchObject({ sub: a.sub, currentCounter: 0 })
    })

    it('expires invites and registration challenges by the clock, and takes a challenge once', async () => {
      const inv = invite({ expiresAt: now() + 10 })
      await store.createInvite(inv)
      await store.putRegistrationChallenge(inv.tokenSha256, { challenge: 'c', userHandle: 'u', exp: now() + 5 })
      expect(await store.takeRegistrationChallenge(inv.tokenSha256)).toEqual({ challenge: 'c', userHandle: 'u', exp: now() + 5 })
      expect(await store.takeRegistrationChallenge(inv.tokenSha256)).toBeNull()
      await store.putRegistrationChallenge(inv.tokenSha256, { challenge: 'd', userHandle: 'u', exp: now() + 5 })
      h.clock.advance(10_000)
      expect(await store.takeRegistrationChallenge(inv.tokenSha256)).toBeNull()
      expect(await store.getInvite(inv.tokenSha256)).toBeNull()
      expect(await store.enrol(inv, credential(inv.sub))).toBe('invite_used')
    })

    it('moves counters forward atomically and flags a key whose counter goes backwards', async () => {
      const inv = invite()
      await store.createInvite(inv)
      const key = credential(inv.sub, { counter: 5 })
      await store.enrol(inv, key)
      const flag = { reason: 'counter_regression' as const, at: now(), detail: 'd' }
      expect(await store.useCredential(key.id, 6, flag)).toBe('ok')
      const race = await Promise.all([store.useCredential(key.id, 7, flag), store.useCredential(key.id, 7, flag)])
      expect(race.sort()).toEqual(['ok', 'regressed'])
      expect(await store.getCredential(key.id)).toMatchObject({ currentCounter: 7, flagged: flag })
      expect(await store.useCredential(key.id, 100, flag)).toBe('flagged')
      expect(await store.useCredential('unknown', 1, flag)).toBe('unknown')
      await expect(store.useCredential(key.id, -1, flag)).rejects.toBeInstanceOf(RangeError)
    })

    it('disables a key by hand: it can approve nothing afterwards, and the first flag stays', async () => {
      const inv = invite()
      await store.createInvite(inv)
      const key = credential(inv.sub, { counter: 1 })
      await store.enrol(inv, key)
      const disabled = { reason: 'disabled' as const, at: now(), detail: 'lost on a train' }
      expect(await store.flagCredential(key.id, disabled)).toBe(true)
      expect(await store.useCredential(key.id, 2, { reason: 'counter_regression', at: now(), detail: 'd' })).toBe('flagged')
      expect(await store.flagCredential(key.id, { ...disabled, detail: 'again' })).toBe(true)
      expect(await store.getCredential(key.id)).toMatchObject({ flagged: disabled })
      expect(await store.flagCredential('unknown', disabled)).toBe(false)
    })

    it('accepts counter 0 forever from an authenticator without a counter', async () => {
      const inv = invite()
      await store.createInvite(inv)
      const key = credential(inv.sub)
      await store.enrol(inv, key)
      const flag = { reason: 'counter_regression' as const, at: now(), detail: 'd' }
      expect(await store.useCredential(key.id, 0, flag)).toBe('ok')
      expect(await store.useCredential(key.id, 0, flag)).toBe('ok')
    })

    it('lists keys of one approver or all, in enrolment order', async () => {
      const sub = `p-${randomUUID()}`
      const keys = []
      for (let i = 0; i < 3; i++) {
        const inv = invite({ sub })
        await store.createInvite(inv)
        const key = credential(sub, { enrolledAt: now() + i })
        keys.push(key.id)
        await store.enrol(inv, key)
      }
      expect((await store.listCredentials({ sub })).map((k) => k.id)).toEqual(keys)
      const all = (await store.listCredentials()).map((k) => k.id)
      for (const id of keys) expect(all).toContain(id)
    })

    it('fails closed after close()', async () => {
      const extra = await make()
      await extra.store.close()
      await expect(extra.store.getRequest('x')).rejects.toMatchObject({ code: 'temporarily_unavailable' })
      await extra.cleanup()
    })
  })
}
