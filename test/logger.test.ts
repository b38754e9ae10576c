import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../src/config.js'
import { configuredSecrets } from '../src/configured-secrets.js'
import { createLogger } from '../src/logger.js'
import { makeApprovalBroker } from './approvals/helpers.js'
import { METRICS_TOKEN, runWorkload } from './observability/workload.js'

const KEK = randomBytes(32).toString('base64')
const REDIS_PASSWORD = 'redis-pw-Zq81-never-logged'

describe('log lines of a scripted workload', () => {
  it('hold none of the secrets the workload used, at debug level', async () => {
    const lines: string[] = []
    const config = parseConfig({
      keys: { kek: KEK },
      store: { password: REDIS_PASSWORD },
      metrics: { bearerToken: METRICS_TOKEN },
    })
    const logger = createLogger('debug', { write: (line) => lines.push(line), secrets: configuredSecrets(config) })
    const broker = await makeApprovalBroker({ logger, config: { metrics: { bearerToken: METRICS_TOKEN } } })
    let secrets: Set<string>
    try {
      ;({ secrets } = await runWorkload(broker))
      // Secrets reach the logger through every way it can be called: messages, fields, errors.
      const token = [...secrets].find((s) => s.startsWith('eyJ'))!
      logger.warn(`forwarded ${token}`, { header: `Bearer ${METRICS_TOKEN}`, kek: KEK, url: `redis://writ:${REDIS_PASSWORD}@redis:6379` })
      logger.error('upstream said', { err: new Error(`bad key ${KEK} for ${token}`), nested: { deeper: [{ value: REDIS_PASSWORD }] } })
    } finally {
      await broker.close()
    }
    secrets.add(KEK)
    secrets.add(REDIS_PASSWORD)

    // Every request made a line, and every line is one JSON object.
    expect(lines.length).toBeGreaterThan(30)
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow()
    expect(lines.filter((l) => JSON.parse(l).msg === 'request').length).toBeGreaterThan(20)
    // The workload used every kind of secret: client secrets, the admin and metrics tokens, access
    // tokens, auth_req_ids, assertion signatures, invite URLs.
    expect(secrets.size).toBeGreaterThan(20)
    const leaks = [...secrets].flatMap((secret) => lines.filter((line) => line.includes(secret)).map((line) => ({ secret, line })))
    expect(leaks).toEqual([])
  })
})

describe('createLogger', () => {
  it('writes one JSON object per line: time, level, msg and the fields', () => {
    const lines: string[] = []
    const logger = createLogger('info', { write: (line) => lines.push(line), clock: () => Date.UTC(2026, 0, 2) })
    logger.debug('not written')
    logger.info('started', { port: 8080, store: 'memory' })
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { time: '2026-01-02T00:00:00.000Z', level: 'info', msg: 'started', port: 8080, store: 'memory' },
    ])
  })

  it('cuts out secrets by field name, by shape and by configured value, keeping public identifiers', () => {
    const lines: string[] = []
    const configured = 'a-configured-secret-of-any-shape'
    const logger = createLogger('debug', { write: (line) => lines.push(line), secrets: [configured] })
    const random = randomBytes(32).toString('base64url').replace(/^/, 'Aa1')
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'
    logger.info(`token ${jwt} and ${configured}`, {
      client_secret: 'hunter2hunter2',
      password: 'p',
      authorization: 'Basic YWdlbnQ6c2VjcmV0',
      note: `with ${random} inside`,
      header: 'DPoP abc.def.ghi',
      redis: 'rediss://writ-broker:pa55word@redis:6380/0',
      invite: 'https://writ.test/enroll/inv_secret_value',
      auth_req_id: 'Yp3abcdefghijklmnopqr.q8abcdefghijklmnopqrstuv',
      kid: 'Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789abcdEF',
      manifest_sha256: 'f'.repeat(64),
      count: 3,
      tokenCacheSeconds: 60,
    })
    const [line] = lines
    for (const secret of [jwt, configured, 'hunter2hunter2', 'YWdlbnQ6c2VjcmV0', random, 'abc.def.ghi', 'pa55word', 'inv_secret_value', 'q8abcdefghijklmnopqrstuv']) {
      expect(line, secret).not.toContain(secret)
    }
    const fields = JSON.parse(line!)
    expect(fields).toMatchObject({
      client_secret: '[redacted]',
      password: '[redacted]',
      authorization: '[redacted]',
      note: 'with [redacted] inside',
      redis: 'rediss://writ-broker:[redacted]@redis:6380/0',
      invite: 'https://writ.test/enroll/[redacted]',
      kid: 'Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789abcdEF',
      manifest_sha256: 'f'.repeat(64),
      count: 3,
      tokenCacheSeconds: 60,
    })
  })

  it('keeps dotted setting names readable: words of letters are names, not tokens', () => {
    const lines: string[] = []
    const logger = createLogger('debug', { write: (line) => lines.push(line) })
    const message = 'configure approvals.attestation.allowedAaguids and approvals.attestation.rootCertificateFiles'
    logger.warn(message)
    expect(JSON.parse(lines[0]!).msg).toBe(message)
  })
})
