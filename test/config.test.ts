import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, parseConfig, SAMPLE_POLICY_PATH } from '../src/config.js'

const kek = Buffer.alloc(32, 7).toString('base64')

describe('loadConfig', () => {
  it('boots on embedded defaults: memory store, generated key, sample policy', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      issuer: 'http://localhost:8080',
      policyFile: SAMPLE_POLICY_PATH,
      store: { kind: 'memory' },
      keys: { alg: 'ES256', source: 'generate' },
    })
  })

  it('honours PORT, HOST, REDIS_URL, WRIT_KEK and friends', () => {
    const config = loadConfig({
      PORT: '9999',
      HOST: '0.0.0.0',
      REDIS_URL: 'redis://cache:6379',
      WRIT_KEK: kek,
      WRIT_SIGNING_ALG: 'EdDSA',
      WRIT_KEY_PREFIX: 'acme:',
      WRIT_POLICY: '/etc/writ/policy.yaml',
    })
    expect(config).toMatchObject({
      port: 9999,
      issuer: 'http://localhost:9999',
      policyFile: '/etc/writ/policy.yaml',
      store: { kind: 'redis', redisUrl: 'redis://cache:6379', keyPrefix: 'acme:' },
      keys: { alg: 'EdDSA', source: 'store', kek },
    })
  })

  it('reads the file named by WRIT_CONFIG, environment winning, policy relative to the file', () => {
    const files: Record<string, string> = {
      '/etc/writ/writ.yaml': 'port: 7000\nissuer: https://writ.example.com\npolicyFile: policy.yaml\ntokens: { maxTtlSeconds: 600, defaultTtlSeconds: 300 }\n',
    }
    const config = loadConfig({ WRIT_CONFIG: '/etc/writ/writ.yaml', PORT: '7001' }, (p) => files[p]!)
    expect(config).toMatchObject({
      port: 7001,
      issuer: 'https://writ.example.com',
      policyFile: '/etc/writ/policy.yaml',
      tokens: { maxTtlSeconds: 600, defaultTtlSeconds: 300 },
    })
  })

  it('lists every problem at once, each naming its setting', () => {
    let error: unknown
    try {
      loadConfig({ PORT: 'eighty', REDIS_URL: 'redis://x', WRIT_SIGNING_ALG: 'HS256', WRIT_LOG_LEVEL: 'loud' })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(ConfigError)
    const problems = (error as ConfigError).problems.join('\n')
    expect(problems).toMatch(/^port:/m)
    expect(problems).toMatch(/^keys\.alg:/m)
    expect(problems).toMatch(/^log\.level:/m)
    expect(problems).toMatch(/^keys\.kek: required/m)
  })

  it('refuses a KEK that is not 32 bytes, and generated keys with a shared store', () => {
    expect(() => parseConfig({ store: { kind: 'redis', redisUrl: 'redis://x' }, keys: { kek: 'c2hvcnQ=' } })).toThrow(/32 bytes/)
    expect(() => parseConfig({ store: { kind: 'redis', redisUrl: 'redis://x' }, keys: { source: 'generate' } })).toThrow(/replicas must share keys/)
  })

  it('refuses a client address header without the proxies it is believed from, naming both settings', () => {
    let error: unknown
    try {
      parseConfig({ limits: { clientIpHeader: 'x-real-ip' } })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^limits\.trustedProxies: required with limits\.clientIpHeader/)])
    expect(() => parseConfig({ limits: { clientIpHeader: 'x-real-ip', trustedProxies: [] } })).toThrow(/limits\.trustedProxies: required/)
  })

  it('takes trusted proxies as IP addresses or CIDRs of either family, and refuses anything else by position', () => {
    const config = parseConfig({ limits: { clientIpHeader: 'x-forwarded-for', trustedProxies: ['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1'] } })
    expect(config.limits).toMatchObject({ clientIpHeader: 'x-forwarded-for', trustedProxies: ['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1'] })
    expect(parseConfig({}).limits.trustedProxies).toEqual([])
    expect(() => parseConfig({ limits: { clientIpHeader: 'x-real-ip', trustedProxies: ['10.0.0.0/8', 'proxy.internal', '10.0.0.0/33'] } })).toThrow(
      /limits\.trustedProxies\[1\]: expected an IP address or CIDR[\s\S]*limits\.trustedProxies\[2\]: expected an IP address or CIDR/,
    )
  })

  it('refuses unknown settings (a typo must not silently fall back to a default)', () => {
    expect(() => parseConfig({ tokens: { maxTTLSeconds: 60 } })).toThrow(ConfigError)
  })

  it('reports a malformed config file with its path', () => {
    expect(() => loadConfig({ WRIT_CONFIG: '/x.yaml' }, () => 'port: [1,\n')).toThrow(/\/x\.yaml/)
  })
})

describe('the local-trial defaults', () => {
  it('publishes a loopback listener as localhost, which WebAuthn accepts as a relying party', () => {
    expect(loadConfig({}).issuer).toBe('http://localhost:8080')
    expect(loadConfig({ HOST: '127.0.0.1', PORT: '9000' }).issuer).toBe('http://localhost:9000')
    expect(loadConfig({ HOST: '::1' }).issuer).toBe('http://localhost:8080')
    expect(loadConfig({ HOST: '10.1.2.3' }).issuer).toBe('http://10.1.2.3:8080')
  })

  it('WRIT_DEV=1 turns on dev attestation unless the config file asks for strict', () => {
    expect(loadConfig({}).approvals.attestation.mode).toBe('strict')
    expect(loadConfig({ WRIT_DEV: '1' }).approvals.attestation.mode).toBe('dev')
    const file = 'approvals: { attestation: { mode: strict } }\n'
    expect(loadConfig({ WRIT_DEV: '1', WRIT_CONFIG: '/x.yaml' }, () => file).approvals.attestation.mode).toBe('strict')
  })
})
