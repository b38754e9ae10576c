import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ENVIRONMENT, loadConfig } from '../src/config.js'

/** A value each variable accepts, and what the setting it names reads back as. */
const SAMPLES: Record<string, { value: string; expect: Record<string, unknown> }> = {
  HOST: { value: '0.0.0.0', expect: { host: '0.0.0.0' } },
  PORT: { value: '9191', expect: { port: 9191 } },
  WRIT_ISSUER: { value: 'https://writ.example.com', expect: { issuer: 'https://writ.example.com' } },
  WRIT_DEV: { value: '1', expect: { devMode: true } },
  WRIT_POLICY: { value: '/etc/writ/policy.yaml', expect: { policyFile: '/etc/writ/policy.yaml' } },
  WRIT_POLICY_SOURCE: { value: 'store', expect: { policySource: 'store' } },
  REDIS_URL: { value: 'redis://127.0.0.1:6379', expect: { 'store.kind': 'redis', 'store.redisUrl': 'redis://127.0.0.1:6379' } },
  REDIS_SENTINELS: { value: '127.0.0.1:26379', expect: { 'store.kind': 'redis' } },
  REDIS_SENTINEL_NAME: { value: 'writ-primary', expect: { 'store.sentinelName': 'writ-primary' } },
  REDIS_CLUSTER_NODES: { value: '127.0.0.1:7000', expect: { 'store.kind': 'redis' } },
  REDIS_USERNAME: { value: 'writ-broker', expect: { 'store.username': 'writ-broker' } },
  REDIS_PASSWORD: { value: 'a-password-of-some-length', expect: { 'store.password': 'a-password-of-some-length' } },
  REDIS_MIN_REPLICAS_ACKED: { value: '1', expect: { 'store.minReplicasAcked': 1 } },
  WRIT_KEY_PREFIX: { value: 'w2:', expect: { 'store.keyPrefix': 'w2:' } },
  WRIT_KEK: { value: Buffer.alloc(32, 7).toString('base64'), expect: { 'keys.kek': Buffer.alloc(32, 7).toString('base64') } },
  WRIT_SIGNING_ALG: { value: 'EdDSA', expect: { 'keys.alg': 'EdDSA' } },
  WRIT_LOG_LEVEL: { value: 'warn', expect: { 'log.level': 'warn' } },
  WRIT_METRICS_TOKEN: { value: 'm'.repeat(40), expect: { 'metrics.bearerToken': 'm'.repeat(40) } },
  WRIT_METRICS_LISTEN: { value: '0.0.0.0:9464', expect: { 'metrics.listen': '0.0.0.0:9464' } },
  WRIT_AUDIT_STDOUT: { value: '1', expect: { 'audit.stdout': true } },
  WRIT_DPOP_NONCE_SECRET: { value: Buffer.alloc(32, 9).toString('base64'), expect: { 'dpop.nonceSecret': Buffer.alloc(32, 9).toString('base64') } },
  WRIT_ADMIN_TOKEN_HASH: { value: '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA', expect: { 'admin.tokenHash': '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA' } },
  WRIT_ADMIN_BOOTSTRAP: { value: 'false', expect: { 'admin.bootstrap': false } },
}

const at = (config: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], config)

/** Every backquoted variable name in the first cell of a Markdown table row of `text`. */
function documentedNames(text: string): Set<string> {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const cell = /^\|([^|]+)\|/.exec(line)?.[1]
    if (!cell) continue
    for (const m of cell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(m[1]!)
  }
  return names
}

describe('the environment variables the broker reads (ENVIRONMENT)', () => {
  it('each sets the setting it names, and nothing is listed without a sample here', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(ENVIRONMENT.map((v) => v.name).sort())
    for (const variable of ENVIRONMENT) {
      const sample = SAMPLES[variable.name]!
      // REDIS_SENTINELS needs its primary's name, the store a KEK: give each what it needs.
      const env: Record<string, string> = { [variable.name]: sample.value }
      if (variable.name === 'REDIS_SENTINELS') env.REDIS_SENTINEL_NAME = 'writ-primary'
      if (variable.name === 'REDIS_SENTINEL_NAME') env.REDIS_SENTINELS = '127.0.0.1:26379'
      if (/^(REDIS_(URL|SENTINELS|SENTINEL_NAME|CLUSTER_NODES)|WRIT_POLICY_SOURCE)$/.test(variable.name)) env.WRIT_KEK = SAMPLES.WRIT_KEK!.value
      const config = loadConfig(env)
      for (const [path, value] of Object.entries(sample.expect)) {
        expect(at(config, path), `${variable.name} → ${path}`).toEqual(value)
        expect(variable.setting.split(', ').some((s) => path.startsWith(s)), `${variable.name} names ${path}`).toBe(true)
      }
    }
  })

  it('is every variable src/config.ts reads (besides WRIT_CONFIG, the file itself)', () => {
    const source = readFileSync(new URL('../src/config.ts', import.meta.url), 'utf8')
    const read = new Set([...source.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!))
    read.delete('WRIT_CONFIG')
    for (const name of read) expect(ENVIRONMENT.map((v) => v.name), name).toContain(name)
  })

  it('is documented, every variable, in a table of the README or docs/', () => {
    const root = new URL('../', import.meta.url)
    const docs = readdirSync(new URL('docs/', root), { withFileTypes: true })
      .filter((d) => d.isFile() && d.name.endsWith('.md'))
      .map((d) => readFileSync(new URL(`docs/${d.name}`, root), 'utf8'))
    const documented = documentedNames([readFileSync(new URL('README.md', root), 'utf8'), ...docs].join('\n'))
    for (const { name } of ENVIRONMENT) expect(documented, `${name} is documented`).toContain(name)
    expect(documented).toContain('WRIT_CONFIG')
  })
})
