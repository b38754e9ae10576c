import { Counter, Gauge, Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVerifier, createVerifierCounters, type Verifier, type VerifierCounters } from '../../src/verifier/index.js'
import { docsManifest, form, ISSUER, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
let broker: TestBroker

beforeAll(async () => {
  broker = await makeTestBroker()
})
afterAll(() => broker.close())

/**
 * How a service registers a verifier's counters with its own prom-client registry (the verifier
 * itself imports no metrics library): collect callbacks that read the counters and the status.
 */
function register(registry: Registry, counters: VerifierCounters, verifier: Verifier): void {
  new Counter({
    name: 'writ_verifier_verifications_total',
    help: 'Token verifications by outcome (ok or the error code).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [outcome, n] of Object.entries(counters.verifications)) this.inc({ outcome }, n)
    },
  })
  new Counter({
    name: 'writ_verifier_cache_lookups_total',
    help: 'Cache lookups by cache (token, liveness) and result (hit, miss).',
    labelNames: ['cache', 'result'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [cache, { hits, misses }] of Object.entries(counters.cache)) {
        this.inc({ cache, result: 'hit' }, hits)
        this.inc({ cache, result: 'miss' }, misses)
      }
    },
  })
  new Gauge({
    name: 'writ_verifier_liveness_cached',
    help: 'Liveness answers the verifier holds (introspection) or grants it confirmed (redis).',
    registers: [registry],
    collect() {
      const status = verifier.status()
      this.set(status.mode === 'introspection' ? status.cachedAnswers : status.mode === 'redis' ? status.cachedGrants : 0)
    },
  })
}

describe('verifier counters', () => {
  it('count verifications by outcome and cache hits, and a service exports them through prom-client', async () => {
    const counters = createVerifierCounters()
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: 'https://git.example.com/acme/app',
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
      fetch: async (input, init) => broker.app.request(String(input), init),
      clock: broker.clock,
      liveness: {
        mode: 'introspection',
        endpoint: `${ISSUER}/oauth/introspect`,
        clientId: 'docs-service',
        clientSecret: SECRETS['docs-service'],
        cacheTtlSeconds: 5,
      },
      metrics: counters.metrics,
    })
    const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
    const token = (await res.json()).access_token as string

    // The first verification fetches the key set, so its result is not cached (a token checked
    // while the key set changed is not trusted for the cache): the third is the first token hit.
    await verifier.verify(token)
    await verifier.verify(token)
    await verifier.verify(token)
    expect(counters.cache).toEqual({ token: { hits: 1, misses: 2 }, liveness: { hits: 2, misses: 1 } })
    await expect(verifier.verify('not-a-jwt')).rejects.toMatchObject({ code: 'invalid_token' })
    expect((await broker.call('POST', '/oauth/revoke', { ...form({ token }), basic: A })).status).toBe(200)
    broker.clock.advance(6000)
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'token_revoked' })

    expect(counters.verifications).toEqual({ ok: 3, invalid_token: 1, token_revoked: 1 })

    const registry = new Registry()
    register(registry, counters, verifier)
    const families = parsePrometheusText(await registry.metrics())
    expect(sampleValue(families, 'writ_verifier_verifications_total', { outcome: 'ok' })).toBe(3)
    expect(sampleValue(families, 'writ_verifier_verifications_total', { outcome: 'token_revoked' })).toBe(1)
    expect(sampleValue(families, 'writ_verifier_cache_lookups_total', { cache: 'liveness', result: 'hit' })).toBe(2)
    expect(sampleValue(families, 'writ_verifier_liveness_cached')).toBe(1)
    await verifier.close()
  })
})
