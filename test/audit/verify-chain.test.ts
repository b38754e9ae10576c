import { generateKeyPairSync, sign } from 'node:crypto'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { exportAudit } from '../../src/audit/export-audit.js'
import { hashAuditEvent } from '../../src/audit/hash-audit-event.js'
import { createMemoryAuditLog } from '../../src/audit/memory-audit-log.js'
import { sealDigest, verifyChain } from '../../src/audit/verify-chain.js'
import { keyRotatedEvent } from '../../src/tokens/key-rotated-event.js'
import { manualClock } from '../../src/clock.js'
import type { KeyManager } from '../../src/tokens/index.js'
import { sampleEvents, testKeys } from './helpers.js'

const ISSUER = 'https://writ.test'
type Json = Record<string, unknown>

let keys: KeyManager
/** A sealed export: events (with checkpoints every 4 events) and the seal as the last line. */
let exported: string[]
let events: Json[]

beforeAll(async () => {
  const clock = manualClock(Date.UTC(2026, 0, 1))
  keys = await testKeys(clock)
  const log = createMemoryAuditLog({ clock, issuer: ISSUER, signer: keys, checkpointEveryEvents: 4, checkpointEverySeconds: 3600 })
  // Each event chained before the next arrives: every checkpoint signs the event just before it.
  for (const event of sampleEvents(14)) {
    clock.advance(1000)
    await log.append(event)
    await log.flush()
  }
  const { events: page, seal } = await exportAudit(log, { signer: keys, issuer: ISSUER, clock })
  exported = [...page.map((e) => JSON.stringify(e)), JSON.stringify(seal)]
  events = page.map((e) => JSON.parse(JSON.stringify(e)) as Json)
  await log.close()
})

const verify = (lines: string[], options: { requireSeal?: boolean; keys?: JWK[] } = {}) =>
  verifyChain(lines, { keys: options.keys ?? keys.jwks().keys, issuer: ISSUER, ...options })

const serialize = (list: Json[], seal = exported.at(-1)!): string[] => [...list.map((e) => JSON.stringify(e)), seal]
const copy = (): Json[] => events.map((e) => structuredClone(e))

/** What an attacker with write access does to hide an edit: recompute every link from `from` on. */
function rechain(list: Json[], from: number): Json[] {
  for (let i = from; i < list.length; i++) {
    if (i > 0) list[i]!.prev = list[i - 1]!.hash
    list[i]!.hash = hashAuditEvent(list[i] as { seq: number; prev: string })
  }
  return list
}

/** A compact JWS by an arbitrary key, as an attacker would make one. */
function attackerJws(payload: Json, typ: string, kid: string, privateKey: ReturnType<typeof generateKeyPairSync>['privateKey']): string {
  const input = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid, typ })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${sig.toString('base64url')}`
}

describe('verifyChain', () => {
  it('accepts an untouched export: chained, checkpointed, sealed', async () => {
    const result = await verify(exported)
    expect(result).toMatchObject({
      ok: true,
      events: events.length,
      firstSeq: 1,
      lastSeq: events.length,
      sealed: true,
      anchoredThroughSeq: events.length,
    })
    expect(result.checkpoints).toBe(events.filter((e) => e.type === 'audit.checkpoint').length)
    expect(result.checkpoints).toBeGreaterThanOrEqual(3)
  })

  it('names an edited event, whichever it is', async () => {
    for (let i = 0; i < events.length; i++) {
      const list = copy()
      list[i]!.time = '2030-01-01T00:00:00.000Z'
      const { ok, problem } = await verify(serialize(list))
      expect(ok, `edit of line ${i + 1}`).toBe(false)
      expect(problem).toMatchObject({ line: i + 1, seq: i + 1, reason: expect.stringMatching(/altered/) })
    }
  })

  it('names an edited event whose own hash was recomputed', async () => {
    for (let i = 0; i < events.length; i++) {
      const list = copy()
      list[i]!.reason = 'nothing to see here'
      list[i]!.hash = hashAuditEvent(list[i] as { seq: number; prev: string })
      const { problem } = await verify(serialize(list))
      expect(problem, `edit of line ${i + 1}`).toMatchObject({ line: i + 1, seq: i + 1, reason: expect.stringMatching(/altered and re-hashed, or replaced/) })
    }
  })

  it('names where a deleted event was, whichever it was', async () => {
    for (let i = 0; i < events.length; i++) {
      const list = copy()
      list.splice(i, 1)
      const { ok, problem } = await verify(serialize(list))
      expect(ok, `deletion of line ${i + 1}`).toBe(false)
      expect(problem!.line, `deletion of line ${i + 1}: ${problem!.reason}`).toBe(i + 1)
      expect(problem!.reason).toMatch(i === 0 ? /removed from the start/ : i === events.length - 1 ? /removed from the end/ : /missing/)
    }
  })

  it('names the first of two events swapped, wherever they are', async () => {
    for (let i = 0; i + 1 < events.length; i++) {
      const list = copy()
      ;[list[i], list[i + 1]] = [list[i + 1]!, list[i]!]
      const { ok, problem } = await verify(serialize(list))
      expect(ok, `swap of lines ${i + 1} and ${i + 2}`).toBe(false)
      expect(problem!.line, `swap at ${i + 1}: ${problem!.reason}`).toBe(i + 1)
    }
  })

  it('names an event inserted anywhere (a copy of another event)', async () => {
    for (let i = 0; i <= events.length; i++) {
      const list = copy()
      list.splice(i, 0, structuredClone(events[(i + 2) % events.length]!))
      const { ok, problem } = await verify(serialize(list))
      expect(ok, `insertion at line ${i + 1}`).toBe(false)
      expect(problem!.line, `insertion at ${i + 1}: ${problem!.reason}`).toBe(i + 1)
    }
  })

  it('detects a forged event inserted with the right seq, prev and hash, at the event after it', async () => {
    for (let i = 0; i <= events.length; i++) {
      const list = copy()
      const before = i === 0 ? { seq: 0, hash: events[0]!.prev } : list[i - 1]!
      const forged: Json = { type: 'admin.action', actor: 'admin', method: 'POST', path: '/admin/x', status: 200, seq: (before.seq as number) + 1, time: '2026-01-01T00:00:00.000Z', prev: before.hash }
      forged.hash = hashAuditEvent(forged as { seq: number; prev: string })
      list.splice(i, 0, forged)
      const { ok, problem } = await verify(serialize(list))
      expect(ok, `forged insertion at line ${i + 1}`).toBe(false)
      expect(problem!.line, `forged insertion at ${i + 1}: ${problem!.reason}`).toBe(i + 2)
      expect(problem!.reason).toMatch(i === events.length ? /removed from the end, or added/ : /inserted, repeated or moved/)
    }
  })

  it('catches an edit hidden by re-hashing everything after it, at the next checkpoint or the seal', async () => {
    for (let i = 0; i < events.length; i++) {
      if (events[i]!.type === 'audit.checkpoint') continue
      const list = copy()
      list[i]!.actor = 'system'
      rechain(list, i)
      const next = events.findIndex((e, j) => j > i && e.type === 'audit.checkpoint')
      const { ok, problem } = await verify(serialize(list))
      expect(ok).toBe(false)
      if (next >= 0) {
        expect(problem, `edit at ${i + 1}`).toMatchObject({ line: next + 1, reason: expect.stringMatching(/altered \(and re-hashed\) after it was signed/) })
      } else {
        expect(problem, `edit at ${i + 1}`).toMatchObject({ line: events.length, reason: expect.stringMatching(/export seal signed/) })
      }
    }
  })

  it('detects a checkpoint whose signature is wrong, even with the chain recomputed around it', async () => {
    const at = events.findIndex((e) => e.type === 'audit.checkpoint')
    const list = copy()
    const [h, p, s] = (list[at]!.checkpoint as string).split('.')
    const sig = Buffer.from(s!, 'base64url')
    sig.writeUInt8(sig.readUInt8(10) ^ 0x01, 10)
    list[at]!.checkpoint = `${h}.${p}.${sig.toString('base64url')}`
    rechain(list, at)
    const { problem } = await verify(serialize(list))
    expect(problem).toMatchObject({ line: at + 1, seq: at + 1, reason: expect.stringMatching(/checkpoint: the signature does not verify/) })
  })

  it('refuses checkpoints and seals signed by a key that is not trusted', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' }) as JWK
    const kid = await calculateJwkThumbprint(jwk, 'sha256')
    // The attacker edits an early event, re-hashes the rest, and re-signs every checkpoint and the seal.
    const list = copy()
    const edit = list.findIndex((e, i) => i > 0 && e.type !== 'audit.checkpoint')
    list[edit]!.actor = 'system'
    for (let i = edit; i < list.length; i++) {
      if (list[i]!.type === 'audit.checkpoint') {
        list[i]!.prev = list[i - 1]!.hash
        list[i]!.checkpoint = attackerJws({ iss: ISSUER, seq: i, hash: list[i]!.prev, iat: 1 }, 'writ-audit-checkpoint+jwt', kid, privateKey)
        list[i]!.jwk = { ...jwk, kid }
      }
      rechain(list, i)
    }
    const last = list.at(-1)!
    const seal = JSON.stringify({
      type: 'audit.seal',
      seal: attackerJws({ iss: ISSUER, first_seq: 1, first_prev: list[0]!.prev, last_seq: last.seq, last_hash: last.hash, count: list.length, iat: 1 }, 'writ-audit-seal+jwt', kid, privateKey),
    })
    const firstForged = list.findIndex((e, i) => i > edit && e.type === 'audit.checkpoint')
    const { ok, problem, anchoredThroughSeq } = await verify(serialize(list, seal))
    expect(ok).toBe(false)
    expect(problem).toMatchObject({ line: firstForged + 1, reason: expect.stringMatching(/not trusted/) })
    // Only what the untouched checkpoints before the edit signed stays anchored.
    const lastGenuine = events.map((e, i) => (i < edit && e.type === 'audit.checkpoint' ? i : -1)).reduce((a, b) => Math.max(a, b), -1)
    expect(anchoredThroughSeq).toBe(lastGenuine >= 0 ? lastGenuine : null)
  })

  it('refuses a checkpoint whose signature is valid but was made for something else', async () => {
    const at = events.findIndex((e) => e.type === 'audit.checkpoint')
    const key = keys.signingKey()
    const reSign = (payload: Json, typ: string): string => {
      const input = `${Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
      return `${input}.${sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
    }
    const cases: Array<[string, string, RegExp]> = [
      ['an access token typ', reSign({ iss: ISSUER, seq: at, hash: events[at]!.prev, iat: 1 }, 'at+jwt'), /typ is at\+jwt/],
      ['another issuer', reSign({ iss: 'https://evil.test', seq: at, hash: events[at]!.prev, iat: 1 }, 'writ-audit-checkpoint+jwt'), /iss/],
      ['a later event', reSign({ iss: ISSUER, seq: at + 1, hash: events[at]!.hash, iat: 1 }, 'writ-audit-checkpoint+jwt'), /signed over seq/],
      ['another hash', reSign({ iss: ISSUER, seq: at, hash: 'f'.repeat(64), iat: 1 }, 'writ-audit-checkpoint+jwt'), /signed over seq/],
    ]
    for (const [what, jws, reason] of cases) {
      const list = copy()
      list[at]!.checkpoint = jws
      rechain(list, at)
      const { problem } = await verify(serialize(list))
      expect(problem, what).toMatchObject({ line: at + 1, reason: expect.stringMatching(reason) })
    }
  })

  it('refuses a checkpoint that goes back before what an earlier one covered', async () => {
    const checkpoints = events.flatMap((e, i) => (e.type === 'audit.checkpoint' ? [i] : []))
    expect(checkpoints.length).toBeGreaterThanOrEqual(3)
    const [first, , third] = checkpoints as [number, number, number]
    // A genuine signature over the first checkpoint's (true) seq and hash, replayed at the third.
    const list = copy()
    list[third]!.checkpoint = list[first]!.checkpoint
    rechain(list, third)
    const { problem } = await verify(serialize(list))
    expect(problem).toMatchObject({ line: third + 1, reason: expect.stringMatching(/before seq \d+ that an earlier checkpoint covered/) })
  })

  it('requires the seal unless told not to, and refuses a seal it cannot trust', async () => {
    const unsealed = exported.slice(0, -1)
    expect((await verify(unsealed)).problem).toMatchObject({ line: unsealed.length + 1, reason: expect.stringMatching(/no export seal/) })
    const lastCheckpoint = events.map((e) => e.type).lastIndexOf('audit.checkpoint')
    expect(await verify(unsealed, { requireSeal: false })).toMatchObject({ ok: true, sealed: false, anchoredThroughSeq: lastCheckpoint })
    // With no trusted key, the first checkpoint is the first thing nothing vouches for.
    const firstCheckpoint = events.findIndex((e) => e.type === 'audit.checkpoint')
    const { problem } = await verify(exported, { keys: [] })
    expect(problem).toMatchObject({ line: firstCheckpoint + 1, reason: expect.stringMatching(/not trusted/) })
    // A seal that is not the last line is refused where it stands.
    const moved = [...exported.slice(0, 3), exported.at(-1)!, ...exported.slice(3)]
    expect((await verify(moved)).ok).toBe(false)
  })

  it('accepts pages exported one after another and concatenated', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1))
    const log = createMemoryAuditLog({ clock, issuer: ISSUER, signer: keys, checkpointEveryEvents: 3, checkpointEverySeconds: 3600 })
    for (const event of sampleEvents(11)) await log.append(event)
    const lines: string[] = []
    let since = 1
    let prevSeal: string | undefined
    for (;;) {
      const page = await exportAudit(log, { signer: keys, issuer: ISSUER, clock, fromSeq: since, fromStart: prevSeal === undefined, limit: 4, ...(prevSeal ? { prevSeal } : {}) })
      if (!page.seal) break
      lines.push(...page.events.map((e) => JSON.stringify(e)), JSON.stringify(page.seal))
      since = page.nextSeq
      prevSeal = sealDigest(page.seal.seal)
      if (!page.more) break
    }
    expect(await verify(lines)).toMatchObject({ ok: true, sealed: true, firstSeq: 1, complete: true, anchor: 'seq 1, the start of the log' })
    // Dropping a whole page (events and seal) breaks the chain where it was.
    const firstSeal = lines.findIndex((l) => l.includes('"audit.seal"'))
    const secondSeal = lines.findIndex((l, i) => i > firstSeal && l.includes('"audit.seal"'))
    const dropped = [...lines.slice(0, firstSeal + 1), ...lines.slice(secondSeal + 1)]
    expect((await verify(dropped)).problem).toMatchObject({ line: firstSeal + 2, reason: expect.stringMatching(/does not name the seal of the page before it/) })
    // Attack: the first page cut off (its events and its seal): the export now starts mid-log.
    expect((await verify(lines.slice(firstSeal + 1))).problem).toMatchObject({ line: 1, reason: expect.stringMatching(/the page before this one is missing: .*first page was cut off/) })
    // Attack: the last page cut off: the seal now last says more events followed.
    const lastSealBefore = lines.slice(0, -1).findLastIndex((l) => l.includes('"audit.seal"'))
    expect((await verify(lines.slice(0, lastSealBefore + 1))).problem).toMatchObject({ reason: expect.stringMatching(/the last page of the export is missing/) })
    await log.close()
  })

  it('trusts a retired key through the rotation its successor announced in the chain, and only then', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1))
    const rotating = await testKeys(clock)
    const log = createMemoryAuditLog({ clock, issuer: ISSUER, signer: rotating, checkpointEveryEvents: 3, checkpointEverySeconds: 3600 })
    for (const event of sampleEvents(5)) await log.append(event)
    await log.flush()
    const oldKid = rotating.signingKey().kid
    const rotation = await rotating.rotate({ force: true })
    await log.append(keyRotatedEvent('admin', rotation!))
    for (const event of sampleEvents(5)) await log.append(event)
    const { events: page, seal } = await exportAudit(log, { signer: rotating, issuer: ISSUER, clock })
    const lines = [...page.map((e) => JSON.stringify(e)), JSON.stringify(seal)]
    const current = rotating.jwks().keys.filter((k) => k.kid === rotating.signingKey().kid)
    expect(page.some((e) => e.type === 'audit.checkpoint' && e.jwk.kid === oldKid)).toBe(true)
    const result = await verify(lines, { keys: current })
    expect(result).toMatchObject({ ok: true, sealed: true })
    expect(result.keys.find((k) => k.kid === oldKid)).toMatchObject({ why: expect.stringMatching(/^named as its predecessor by trusted key/) })
    // Without the rotation in the chain, a trusted signature after them no longer makes the old
    // key's checkpoints count: the first is named.
    const unannounced = rechain(page.filter((e) => e.type !== 'key.rotated').map((e) => structuredClone(e) as unknown as Json), 0)
    const firstOld = unannounced.findIndex((e) => e.type === 'audit.checkpoint')
    const withoutRotation = await verify(serialize(unannounced, JSON.stringify(seal)), { keys: current })
    expect(withoutRotation.problem).toMatchObject({ line: firstOld + 1, reason: expect.stringMatching(new RegExp(`checkpoint: signed by key ${oldKid}, which is not trusted`)) })
    // Without the seal, the newest checkpoint is the trusted anchor and still covers the old ones.
    const lastCp = page.findLast((e) => e.type === 'audit.checkpoint')
    if (lastCp?.type !== 'audit.checkpoint') throw new Error('expected a checkpoint')
    const covered = (JSON.parse(Buffer.from(lastCp.checkpoint.split('.')[1]!, 'base64url').toString()) as { seq: number }).seq
    expect(await verify(lines.slice(0, -1), { keys: current, requireSeal: false })).toMatchObject({ ok: true, anchoredThroughSeq: covered })
    await log.close()
  })

  it('trusts a successor the old key handed over to, and after a compromised rotation the old key counts only before it', async () => {
    const clock = manualClock(Date.UTC(2026, 0, 1))
    const build = async (compromised: boolean, lagging: boolean): Promise<{ lines: string[]; oldJwk: JWK; newJwk: JWK }> => {
      const rotating = await testKeys(clock)
      const oldJwk = rotating.jwks().keys.find((k) => k.kid === rotating.signingKey().kid)!
      const log = createMemoryAuditLog({ clock, issuer: ISSUER, signer: rotating, checkpointEveryEvents: 3, checkpointEverySeconds: 3600 })
      for (const event of sampleEvents(4)) await log.append(event)
      await log.flush()
      const oldSigner = { signingKey: () => oldKey, jwks: () => ({ keys: [oldJwk] }) }
      const oldKey = rotating.signingKey()
      const rotation = await rotating.rotate({ force: true })
      await log.append(keyRotatedEvent('admin', { ...rotation!, ...(compromised ? { compromised: true } : {}) }))
      for (const event of sampleEvents(4)) await log.append(event)
      await log.flush()
      const page = await log.read({ fromSeq: 1, limit: 1000 })
      const lines = page.map((e) => JSON.stringify(e))
      if (lagging) {
        // The stolen old key signs a checkpoint after its rotation (a replica that had not
        // learnt it yet, or whoever stole it).
        const last = page.at(-1)!
        const { jws, jwk } = (await import('../../src/audit/sign-audit-jws.js')).signAuditJws(oldSigner, 'writ-audit-checkpoint+jwt', { iss: ISSUER, seq: last.seq, hash: last.hash, iat: 1 })
        const cp: Json = { type: 'audit.checkpoint', actor: 'system', checkpoint: jws, jwk, time: last.time, seq: last.seq + 1, prev: last.hash }
        cp.hash = hashAuditEvent(cp as { seq: number; prev: string })
        lines.push(JSON.stringify(cp))
      }
      await log.close()
      return { lines, oldJwk, newJwk: rotating.jwks().keys.find((k) => k.kid === rotating.signingKey().kid)! }
    }
    // The auditor holds only the old key: the handover signed by it vouches for the new one.
    const handed = await build(false, false)
    const forward = await verify(handed.lines, { keys: [handed.oldJwk], requireSeal: false })
    expect(forward).toMatchObject({ ok: true })
    expect(forward.keys.find((k) => k.kid === handed.newJwk.kid)).toMatchObject({ why: expect.stringMatching(/^handed over to by trusted key .* in the key.rotated event at seq \d+/), checkpoints: expect.any(Number) })
    // A compromised rotation carries no handover: the old key alone vouches for nothing after it…
    const stolen = await build(true, false)
    const refused = await verify(stolen.lines, { keys: [stolen.oldJwk], requireSeal: false })
    expect(refused.problem).toMatchObject({ reason: expect.stringMatching(new RegExp(`checkpoint: signed by key ${stolen.newJwk.kid}, which is not trusted`)) })
    // …the auditor must hold the new key; its announcement vouches for what the old key signed
    // before the rotation, and only that (the broker still seals its history after a compromise).
    const held = await verify(stolen.lines, { keys: [stolen.newJwk], requireSeal: false })
    expect(held).toMatchObject({ ok: true })
    expect(held.keys.find((k) => k.kid === stolen.oldJwk.kid)).toMatchObject({ why: expect.stringMatching(/declared it compromised: trusted only before that event/) })
    expect(await verify(stolen.lines, { keys: [stolen.newJwk, stolen.oldJwk], requireSeal: false })).toMatchObject({ ok: true })
    // And what the stolen key signs after the rotation never counts, even for an auditor who holds it.
    const late = await build(true, true)
    const after = await verify(late.lines, { keys: [late.newJwk, late.oldJwk], requireSeal: false })
    expect(after.problem).toMatchObject({ line: late.lines.length, reason: expect.stringMatching(/after key .* declared it compromised/) })
    const afterNewOnly = await verify(late.lines, { keys: [late.newJwk], requireSeal: false })
    expect(afterNewOnly.problem).toMatchObject({ line: late.lines.length, reason: expect.stringMatching(/after key .* declared it compromised/) })
  })

  it('ends at once on a self-signed checkpoint that claims seq 2^50 (bounded by the input, not the seqs)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' }) as JWK
    const kid = await calculateJwkThumbprint(jwk, 'sha256')
    const big = 2 ** 50
    const e1 = { type: 'admin.action', actor: 'admin', method: 'POST', path: '/x', status: 200, time: '2026-01-01T00:00:00.000Z', seq: big, prev: 'a'.repeat(64) } as Json
    e1.hash = hashAuditEvent(e1 as { seq: number; prev: string })
    const cp = { type: 'audit.checkpoint', actor: 'system', checkpoint: attackerJws({ iss: ISSUER, seq: big, hash: e1.hash, iat: 1 }, 'writ-audit-checkpoint+jwt', kid, privateKey), jwk: { ...jwk, kid }, time: '2026-01-01T00:00:00.000Z', seq: big + 1, prev: e1.hash } as Json
    cp.hash = hashAuditEvent(cp as { seq: number; prev: string })
    // Trusted or not, the key changes nothing: the verification returns.
    for (const trustedKeys of [[], [{ ...jwk, kid }]]) {
      const result = await verifyChain([JSON.stringify(e1), JSON.stringify(cp)], { keys: trustedKeys, requireSeal: false })
      expect(result.events).toBeLessThanOrEqual(2)
    }
    const refused = await verifyChain([JSON.stringify(e1), JSON.stringify(cp)], { keys: [] })
    expect(refused).toMatchObject({ ok: false, problem: { line: 2, reason: expect.stringMatching(/not trusted/) } })
  })

  it('names a line that is not a JSON object, and never throws on garbage', async () => {
    for (const junk of ['not json', '[1,2]', '{"seq":"one"}', '{"seq":1,"prev":"x","hash":"y"}']) {
      const lines = [...exported.slice(0, 2), junk, ...exported.slice(2)]
      const { ok, problem } = await verify(lines)
      expect(ok).toBe(false)
      expect(problem!.line).toBe(3)
    }
    expect(await verify([])).toMatchObject({ ok: true, events: 0 })
  })
})
