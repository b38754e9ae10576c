import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { importKek, openKeySet } from '../../src/tokens/seal-key-set.js'
import type { KeyEntry } from '../../src/tokens/key-set.js'
import { createVerifier, type Verifier } from '../../src/verifier/index.js'
import { docsManifest, SECRETS } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { eventually } from '../helpers/eventually.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'
import { outcome } from '../helpers/verifier.js'

/**
 * Recovery from stolen signing keys, end to end: a broker on a real port over the real Redis,
 * the real CLI, and verifiers in both liveness modes. The attacker holds the current key and the
 * pre-generated next key (both sealed under the same KEK) and signs tokens with them.
 */

const APP = 'https://git.example.com/acme/app'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const KEK = randomBytes(32).toString('base64')
/** The bound docs/verifier.md ("Withdrawn keys") states for a redis-mode verifier (message delivery), with CI slack. */
const REDIS_BOUND_MS = 3_000
/** The introspection-mode bound: its answer cache (cacheTtlSeconds 5) plus slack. */
const INTROSPECTION_BOUND_MS = 7_000

/** Polls until `condition` holds; fails if it still does not after `boundMs`. */
const within = (boundMs: number, what: string, condition: () => Promise<boolean>): Promise<number> =>
  eventually(what, condition, { boundMs, everyMs: 25 })

let http: HttpBroker
let adminToken: string
let byRedis: Verifier
let byIntrospection: Verifier

beforeAll(async () => {
  const { token, tokenHash } = await createAdminToken()
  adminToken = token
  // A checkpoint every couple of events, so the old key signs some history before the rotation.
  http = await startHttpBroker({
    admin: { tokenHash },
    keys: { source: 'store', kek: KEK },
    audit: { checkpointEveryEvents: 2 },
  })
  const common = { issuer: http.url, audience: APP, jwksUri: `${http.url}/.well-known/jwks.json` }
  byRedis = createVerifier({
    ...common,
    liveness: { mode: 'redis', redis: REDIS_URL, keyPrefix: http.prefix, cacheTtlSeconds: 3600 },
  })
  byIntrospection = createVerifier({
    ...common,
    // No channel tells this verifier about fresh keys: it fetches them on the first token signed
    // by one, once the unknown-kid cooldown allows (30 s by default; short here).
    jwksCooldownSeconds: 2,
    liveness: {
      mode: 'introspection',
      endpoint: `${http.url}/oauth/introspect`,
      clientId: 'agent-a',
      clientSecret: SECRETS['agent-a'],
    },
  })
  await within(5_000, 'the redis verifier subscribed', async () =>
    (byRedis.status() as { subscribed?: boolean }).subscribed === true,
  )
})
afterAll(async () => {
  await byRedis?.close()
  await byIntrospection?.close()
  await http?.close()
})

async function issue(): Promise<string> {
  const basic = `agent-a:${encodeURIComponent(SECRETS['agent-a']).replace(/%20/g, '+')}`
  const res = await fetch(`${http.url}/v1/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(basic).toString('base64')}` },
    body: JSON.stringify(docsManifest()),
  })
  expect(res.status).toBe(200)
  return ((await res.json()) as { access_token: string }).access_token
}

/** What the attacker took: the private current and next keys, decrypted as the broker does. */
async function stealKeys(): Promise<{ current: KeyEntry; next: KeyEntry }> {
  const stored = await http.broker.store.keySets.getKeySet()
  const { set } = await openKeySet(stored!.data, importKek(KEK), { issuer: http.url, allowLegacy: false })
  return { current: set.current, next: set.next! }
}

/** A token with exactly the claims of `genuine` (so its grant is live), signed with `key`. */
async function forge(genuine: string, key: KeyEntry): Promise<string> {
  const claims = decodeJwt(genuine)
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid })
    .sign(key.privateKey!)
}

async function jwksKids(): Promise<string[]> {
  const res = await fetch(`${http.url}/.well-known/jwks.json`)
  return ((await res.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
}

describe('writ keys rotate --compromised against a running broker', () => {
  it('withdraws the stolen current and next keys everywhere within the stated bounds and revokes every grant', async () => {
    const before = await issue()
    const stolen = await stealKeys()
    // The attack is real before the rotation: a token forged with the stolen next key passes.
    expect(await outcome(byRedis, await forge(before, stolen.next))).toBe('ok')
    expect(await outcome(byIntrospection, await forge(before, stolen.current))).toBe('ok')
    expect(await outcome(byIntrospection, before)).toBe('ok')

    const rotated = await runCli(
      ['keys', 'rotate', '--compromised', '--reason', 'signing key found in a core dump'],
      { WRIT_URL: http.url, WRIT_ADMIN_TOKEN: adminToken },
    )
    expect(rotated.code, rotated.stderr).toBe(0)
    expect(rotated.stdout).toContain(stolen.current.kid)
    expect(rotated.stdout).toContain(stolen.next.kid)
    expect(rotated.stdout).toMatch(/grants revoked: [1-9]/)

    // The JWKS drops every earlier key at once: neither the old current nor the old next stays.
    const kids = await jwksKids()
    expect(kids).toHaveLength(2)
    expect(kids).not.toContain(stolen.current.kid)
    expect(kids).not.toContain(stolen.next.kid)

    // The attacker now forges tokens for a grant issued after the rotation (live in the store).
    const after = await issue()
    expect(decodeProtectedHeader(after).kid).toBe(kids[0])
    const forgedCurrent = await forge(after, stolen.current)
    const forgedNext = await forge(after, stolen.next)

    const redisMs = await within(REDIS_BOUND_MS, 'the redis verifier refuses the stolen keys', async () =>
      (await outcome(byRedis, forgedCurrent)) === 'invalid_token' &&
      (await outcome(byRedis, forgedNext)) === 'invalid_token',
    )
    expect(redisMs).toBeLessThanOrEqual(REDIS_BOUND_MS)
    // The introspection endpoint no longer knows the kids: refused on the first ask.
    expect(await outcome(byIntrospection, forgedCurrent)).toBe('token_revoked')
    expect(await outcome(byIntrospection, forgedNext)).toBe('token_revoked')
    // The genuine token of before: its key is withdrawn (redis mode) and its grant revoked with
    // every other; the introspection verifier's cached "active" answer lasts at most its ttl.
    expect(await outcome(byRedis, before)).toBe('invalid_token')
    await within(INTROSPECTION_BOUND_MS, 'the introspection verifier refuses the revoked token', async () =>
      (await outcome(byIntrospection, before)) === 'token_revoked',
    )
    // Tokens under the fresh keys work in both modes (the redis verifier was told their kids).
    expect(await outcome(byRedis, after)).toBe('ok')
    await within(10_000, 'the introspection verifier fetched the fresh keys', async () =>
      (await outcome(byIntrospection, after)) === 'ok',
    )

    // Every grant live at the rotation was revoked, with the reason given.
    const grantId = decodeJwt(before).jti as string
    const state = await http.broker.store.grants.getGrant('agent-a', grantId)
    expect(state).toMatchObject({ state: 'revoked', revocation: { reason: 'signing key found in a core dump' } })
    const live = await http.broker.store.grants.listGrants({})
    expect(live.map((g) => g.id)).toEqual([decodeJwt(after).jti])
  })

  it('still exports the history the old key signed, which verifies with only the fresh keys', async () => {
    // Runs after the rotation above: the log holds checkpoints by the withdrawn key before it.
    const env = { WRIT_URL: http.url, WRIT_ADMIN_TOKEN: adminToken }
    const file = join(mkdtempSync(join(tmpdir(), 'writ-compromised-')), 'audit.jsonl')
    const exported = await runCli(['audit', 'export', '--out', file], env)
    expect(exported.code, exported.stderr).toBe(0)
    const verified = await runCli(['audit', 'verify', file], env)
    expect(verified.code, verified.stderr + verified.stdout).toBe(0)
    expect(verified.stdout).toMatch(/declared it compromised: trusted only before that event/)
  })
})
