import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { formatIssues } from './validation.js'

/** The sample policy shipped with the package: the embedded default. */
export const SAMPLE_POLICY_PATH = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'examples',
  'policy.yaml',
)

const port = z.coerce.number().int().min(0).max(65535)
const seconds = z.coerce.number().int().positive()

export const configSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8080),
    /** The `iss` of every token and the base of every URL writ publishes. */
    issuer: z.url().optional(),
    /** Relaxes nothing about tokens; allows generated ephemeral keys and says so loudly. */
    devMode: z.boolean().default(false),
    policyFile: z.string().min(1).default(SAMPLE_POLICY_PATH),
    store: z
      .object({
        kind: z.enum(['memory', 'redis']).default('memory'),
        redisUrl: z.string().min(1).optional(),
        keyPrefix: z.string().min(1).max(64).default('writ:'),
        commandTimeoutMs: z.number().int().positive().default(1000),
      })
      .strict()
      .default({ kind: 'memory', keyPrefix: 'writ:', commandTimeoutMs: 1000 }),
    keys: z
      .object({
        alg: z.enum(['ES256', 'EdDSA']).default('ES256'),
        /**
         * generate: an ephemeral key in this process (embedded default, memory store only);
         * store: shared through the store, private keys encrypted with `kek`;
         * files: PEM/JWK files, rotated by replacing them.
         */
        source: z.enum(['generate', 'store', 'files']).optional(),
        /** Base64 of 32 random bytes; encrypts private keys at rest in the store. */
        kek: z.string().optional(),
        files: z
          .object({
            current: z.string().min(1),
            next: z.string().min(1).optional(),
            previous: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
        /** How long a key signs before the next one takes over. */
        rotationSeconds: seconds.default(7 * 24 * 3600),
      })
      .strict()
      .default({ alg: 'ES256', rotationSeconds: 7 * 24 * 3600 }),
    tokens: z
      .object({
        /** Upper bound on any token's life, whatever policy or manifest say. */
        maxTtlSeconds: seconds.default(3600),
        /** Life of a token whose manifest names no ttl (still capped by rule and max). */
        defaultTtlSeconds: seconds.default(900),
        /** `aud` when no grant names `locations`. */
        defaultAudience: z.string().min(1).default('writ'),
      })
      .strict()
      .default({ maxTtlSeconds: 3600, defaultTtlSeconds: 900, defaultAudience: 'writ' }),
    clientAuth: z
      .object({
        /** How long a verified client secret is trusted without running argon2 again. */
        secretCacheSeconds: seconds.default(60),
        /** Oldest `iat` accepted in a private_key_jwt assertion. */
        assertionMaxAgeSeconds: seconds.default(300),
      })
      .strict()
      .default({ secretCacheSeconds: 60, assertionMaxAgeSeconds: 300 }),
    limits: z
      .object({
        bodyBytes: z.number().int().positive().max(1024 * 1024).default(64 * 1024),
        grants: z.number().int().positive().max(1000).default(50),
      })
      .strict()
      .default({ bodyBytes: 64 * 1024, grants: 50 }),
    log: z
      .object({ level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  // Cross-field rules run even when a field above failed, so one boot lists every problem.
  .superRefine(
    (c, ctx) => {
      if (!c?.store || !c.keys || !c.tokens) return
      if (c.store.kind === 'redis' && !c.store.redisUrl) {
        ctx.addIssue({ code: 'custom', path: ['store', 'redisUrl'], message: 'required when store.kind is redis' })
      }
      const source = c.keys.source ?? (c.store.kind === 'redis' ? 'store' : 'generate')
      if (source === 'store' && !c.keys.kek) {
        ctx.addIssue({
          code: 'custom',
          path: ['keys', 'kek'],
          message: 'required when keys live in the store (set WRIT_KEK to base64 of 32 random bytes)',
        })
      }
      if (typeof c.keys.kek === 'string' && Buffer.from(c.keys.kek, 'base64').length !== 32) {
        ctx.addIssue({ code: 'custom', path: ['keys', 'kek'], message: 'must be base64 of exactly 32 bytes' })
      }
      if (source === 'files' && !c.keys.files) {
        ctx.addIssue({ code: 'custom', path: ['keys', 'files'], message: 'required when keys.source is files' })
      }
      if (source === 'generate' && c.store.kind === 'redis') {
        ctx.addIssue({
          code: 'custom',
          path: ['keys', 'source'],
          message: 'generate is for the single-process memory store; replicas must share keys (use store or files)',
        })
      }
      if (c.tokens.defaultTtlSeconds > c.tokens.maxTtlSeconds) {
        ctx.addIssue({ code: 'custom', path: ['tokens', 'defaultTtlSeconds'], message: 'must not exceed tokens.maxTtlSeconds' })
      }
    },
    { when: () => true },
  )

export type ConfigInput = z.input<typeof configSchema>
type ParsedConfig = z.output<typeof configSchema>

export interface Config extends Omit<ParsedConfig, 'issuer' | 'keys'> {
  issuer: string
  keys: ParsedConfig['keys'] & { source: 'generate' | 'store' | 'files' }
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
  }
}

/** Validates a config object (file contents merged with environment) and fills in defaults. */
export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input)
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues))
  const c = result.data
  const hostForUrl = c.host === '0.0.0.0' || c.host === '::' ? 'localhost' : c.host
  const issuer = (c.issuer ?? `http://${hostForUrl.includes(':') ? `[${hostForUrl}]` : hostForUrl}:${c.port}`).replace(/\/+$/, '')
  const source = c.keys.source ?? (c.store.kind === 'redis' ? 'store' : 'generate')
  return { ...c, issuer, keys: { ...c.keys, source } }
}

type Env = Record<string, string | undefined>

/**
 * Reads the config file named by `WRIT_CONFIG` (YAML or JSON) and overlays the environment:
 * `PORT`, `HOST`, `WRIT_ISSUER`, `WRIT_POLICY`, `REDIS_URL` (selects the Redis store),
 * `WRIT_KEY_PREFIX`, `WRIT_KEK`, `WRIT_SIGNING_ALG`, `WRIT_DEV`, `WRIT_LOG_LEVEL`.
 * Every problem is reported at once in a ConfigError.
 */
export function loadConfig(env: Env, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): Config {
  let file: Record<string, unknown> = {}
  const problems: string[] = []
  const configPath = env.WRIT_CONFIG
  if (configPath) {
    try {
      const parsed: unknown = parseYaml(readFile(configPath))
      if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
        problems.push(`WRIT_CONFIG ${configPath}: expected a mapping at the top level`)
      } else if (parsed) {
        file = parsed as Record<string, unknown>
      }
    } catch (err) {
      problems.push(`WRIT_CONFIG ${configPath}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)

  const merged: Record<string, unknown> = { ...file }
  const section = (name: string): Record<string, unknown> => {
    const existing = merged[name]
    const copy = existing && typeof existing === 'object' && !Array.isArray(existing) ? { ...(existing as object) } : {}
    merged[name] = copy
    return copy as Record<string, unknown>
  }
  if (env.HOST) merged.host = env.HOST
  if (env.PORT) merged.port = env.PORT
  if (env.WRIT_ISSUER) merged.issuer = env.WRIT_ISSUER
  if (env.WRIT_DEV) merged.devMode = env.WRIT_DEV === '1' || env.WRIT_DEV === 'true'
  if (env.WRIT_POLICY) {
    merged.policyFile = env.WRIT_POLICY
  } else if (typeof merged.policyFile === 'string' && configPath && !isAbsolute(merged.policyFile)) {
    // A relative policy path in a config file is relative to that file.
    merged.policyFile = resolve(dirname(configPath), merged.policyFile)
  }
  if (env.REDIS_URL) Object.assign(section('store'), { kind: 'redis', redisUrl: env.REDIS_URL })
  if (env.WRIT_KEY_PREFIX) section('store').keyPrefix = env.WRIT_KEY_PREFIX
  if (env.WRIT_KEK) section('keys').kek = env.WRIT_KEK
  if (env.WRIT_SIGNING_ALG) section('keys').alg = env.WRIT_SIGNING_ALG
  if (env.WRIT_LOG_LEVEL) section('log').level = env.WRIT_LOG_LEVEL
  return parseConfig(merged)
}
