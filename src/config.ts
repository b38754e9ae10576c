import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { parseCidr } from './net/parse-cidr.js'
import { formatIssues } from './validation.js'
import { DEFAULT_DPOP_MAX_AGE_SECONDS } from './verifier/dpop-defaults.js'

/** The sample policy shipped with the package: the embedded default. */
export const SAMPLE_POLICY_PATH = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'examples',
  'policy.yaml',
)

const port = z.coerce.number().int().min(0).max(65535)

/** A Redis Sentinel or Cluster node: `{ host, port }`. */
const redisEndpoint = z.object({ host: z.string().min(1), port: port.refine((p) => p > 0, 'must be 1 to 65535') }).strict()

/** Redis endpoints: a list of `{ host, port }`, or `host:port,host:port` (the environment's form). */
const redisEndpoints = z.preprocess((value, ctx) => {
  if (typeof value !== 'string') return value
  const endpoints: Array<{ host: string; port: number }> = []
  for (const part of value.split(',')) {
    const match = /^\s*([^\s:,[\]]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\s*$/.exec(part)
    if (!match) {
      ctx.addIssue({ code: 'custom', message: `expected host:port[,host:port...], got "${part.trim()}"` })
      return z.NEVER
    }
    endpoints.push({ host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) })
  }
  return endpoints
}, z.array(redisEndpoint).min(1))

const seconds = z.coerce.number().int().positive()

/** An IAM role ARN (same shape as `ROLE_ARN` in src/credentials/aws/select-aws-grants.ts). */
const roleArn = z
  .string()
  .regex(/^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/, 'expected an IAM role ARN')

/** AWS STS credential vending (README "AWS credentials"); off unless this section is present. */
const awsSection = z
  .object({
    region: z.string().regex(/^[a-z]{2}(?:-[a-z]+)+-\d$/, 'expected an AWS region like eu-west-1'),
    /** Endpoint override for STS and IAM; credentials always come from the SDK's provider chain. */
    endpoint: z.url().optional(),
    /** The broker itself runs on a role: AWS caps chained sessions at one hour. */
    roleChaining: z.boolean().default(false),
    /** The only roles writ assumes, each with its IAM MaxSessionDuration. */
    roles: z
      .array(
        z
          .object({
            arn: roleArn,
            maxSessionSeconds: z.number().int().min(3600).max(43_200).default(3600),
            externalId: z.string().regex(/^[\w+=,.@:/-]{2,1224}$/, 'expected 2 to 1224 characters of [\\w+=,.@:/-]').optional(),
          })
          .strict(),
      )
      .min(1, 'list at least one role'),
    revocation: z
      .object({
        /** Name of the inline deny policy writ maintains on each role. */
        policyName: z.string().regex(/^[\w+=,.@-]{1,128}$/, 'expected an IAM policy name').default('writ-revoked-sessions'),
        /** How often expired entries are pruned and missed revocations caught up on. */
        pruneIntervalSeconds: seconds.max(3600).default(60),
        /** Budget for the deny policy (IAM allows 10,240 characters of inline policy per role). */
        maxPolicyChars: z.number().int().min(1024).max(10_240).default(8192),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((aws, ctx) => {
    const seen = new Set<string>()
    aws.roles.forEach((role, i) => {
      if (seen.has(role.arn)) ctx.addIssue({ code: 'custom', path: ['roles', i, 'arn'], message: 'listed twice' })
      seen.add(role.arn)
    })
  })

export const configSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8080),
    /** The `iss` of every token and the base of every URL writ publishes. */
    issuer: z.url().optional(),
    /** Relaxes nothing about tokens; allows generated ephemeral keys and says so loudly. */
    devMode: z.boolean().default(false),
    policyFile: z.string().min(1).default(SAMPLE_POLICY_PATH),
    /**
     * Where the policy in force comes from (`docs/policy.md`). `file`: `policyFile`, re-read on
     * SIGHUP; `writ policy apply` is refused. `store`: the policy stored in the shared store,
     * sealed under `keys.kek`, changed by `writ policy apply` and followed by every replica within
     * 2 s; `policyFile` only seeds the store when no policy is stored yet.
     */
    policySource: z.enum(['file', 'store']).default('file'),
    store: z
      .object({
        kind: z.enum(['memory', 'redis']).default('memory'),
        redisUrl: z.string().min(1).optional(),
        /** Redis Sentinel: the Sentinels to ask for the primary named `sentinelName`. */
        sentinels: redisEndpoints.optional(),
        sentinelName: z.string().min(1).optional(),
        /** Redis Cluster: some (or all) of the cluster's nodes. */
        clusterNodes: redisEndpoints.optional(),
        /**
         * ACL user and password of the data nodes (Sentinel, Cluster, and a `redisUrl` that
         * carries none: credentials in the URL win).
         */
        username: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
        /**
         * Replicas that must confirm a grant or revocation (Redis WAIT) before the broker answers;
         * 0 = do not wait. With 1 on Sentinel, a failover loses no acknowledged grant or revocation.
         */
        minReplicasAcked: z.number().int().min(0).max(16).default(0),
        keyPrefix: z.string().min(1).max(64).default('writ:'),
        commandTimeoutMs: z.number().int().positive().default(1000),
      })
      .strict()
      .prefault({}),
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
      .prefault({}),
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
      .prefault({}),
    clientAuth: z
      .object({
        /** How long a verified client secret is trusted without running argon2 again. */
        secretCacheSeconds: seconds.default(60),
        /** Oldest `iat` accepted in a private_key_jwt assertion. */
        assertionMaxAgeSeconds: seconds.default(300),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        bodyBytes: z.number().int().positive().max(1024 * 1024).default(64 * 1024),
        grants: z.number().int().positive().max(1000).default(50),
        /** Requests per second one authenticated client may sustain, per broker replica. */
        clientRequestsPerSecond: z.number().positive().max(1_000_000).default(200),
        /** Requests one client may make at once after being idle. */
        clientBurst: z.number().int().positive().max(1_000_000).default(400),
        /** Requests per minute one address may sustain on the approval and enrolment pages. */
        pageRequestsPerMinute: z.number().positive().max(1_000_000).default(60),
        /** Requests one address may make at once on those pages. */
        pageBurst: z.number().int().positive().max(1_000_000).default(30),
        /**
         * Wrong admin tokens per minute one address may make the broker check with argon2, per
         * replica; a token that verifies costs nothing. Past the budget: 429 without argon2.
         */
        adminAuthFailuresPerMinute: z.number().positive().max(1_000_000).default(10),
        /** Wrong admin tokens one address may present at once after being idle. */
        adminAuthFailureBurst: z.number().int().positive().max(1_000_000).default(10),
        /**
         * Failed client secret checks (argon2) per minute from one address, per replica: wrong
         * secrets and unknown clients; a secret that verifies costs nothing. Past it: 429.
         */
        clientAuthFailuresPerMinute: z.number().positive().max(1_000_000).default(30),
        /** Failed client secret checks one address may make at once after being idle. */
        clientAuthFailureBurst: z.number().int().positive().max(1_000_000).default(20),
        /**
         * Header holding the caller's address (`x-real-ip`, or a list like `x-forwarded-for`),
         * believed only from `trustedProxies`; any other request is counted by its TCP peer.
         */
        clientIpHeader: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'expected a header name').optional(),
        /**
         * The reverse proxies (IP addresses or CIDRs, IPv4 or IPv6) whose `clientIpHeader` is
         * believed; required with it.
         */
        trustedProxies: z
          .array(z.string().refine((v) => parseCidr(v) !== undefined, 'expected an IP address or CIDR (10.0.0.0/8, fd00::/8)'))
          .max(1000)
          .default([]),
      })
      .strict()
      .superRefine((limits, ctx) => {
        // Ensure no header is believed from every peer: the operator names the proxies.
        if (limits.clientIpHeader !== undefined && limits.trustedProxies.length === 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['trustedProxies'],
            message:
              'required with limits.clientIpHeader: list the proxies (IPs or CIDRs) that set it, or the header would be believed from anyone',
          })
        }
      })
      // Each field's default above applies when the whole section is left out.
      .prefault({}),
    log: z
      .object({ level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info') })
      .strict()
      .prefault({}),
    /** Prometheus metrics (docs/observability.md). */
    metrics: z
      .object({
        /** Off: no /metrics anywhere and no metric is kept. */
        enabled: z.boolean().default(true),
        /**
         * The bearer token scrapers present. With it, /metrics on the main listener answers;
         * without it (and without `listen`) it answers 401, so no default deployment exposes it.
         */
        bearerToken: z.string().regex(/^[\x21-\x7e]{32,512}$/, 'expected 32 to 512 printable ASCII characters').optional(),
        /** host:port of a listener of its own serving only /metrics (then not on the main one). */
        listen: z
          .string()
          .regex(/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/, 'expected host:port (127.0.0.1:9464, [::1]:9464)')
          .optional(),
      })
      .strict()
      .prefault({}),
    /** The hash-chained audit log (README "Audit"). */
    audit: z
      .object({
        /** Off only for measurements: with it off, nothing is audited. */
        enabled: z.boolean().default(true),
        /** A signed checkpoint at least every this many events... */
        checkpointEveryEvents: z.number().int().min(1).max(1_000_000).default(1000),
        /** ...and at least every this many seconds while events arrive. */
        checkpointEverySeconds: seconds.max(24 * 3600).default(60),
        /** Most events one broker chains in one batch (one Redis script call). */
        batchMaxEvents: z.number().int().min(1).max(1000).default(256),
        /** How long an event taken in waits for others before their batch is chained, in ms. */
        chainDelayMs: z.number().int().min(1).max(10_000).default(100),
        /** Also write every event this broker appends to stdout, one JSON line each. */
        stdout: z.boolean().default(false),
        /** Authentication failures are coalesced per claimed client over this window. */
        authFailureWindowSeconds: seconds.max(3600).default(60),
      })
      .strict()
      .prefault({}),
    aws: awsSection.optional(),
    dpop: z
      .object({
        /** DPoP proofs at the token endpoints must carry a server nonce (RFC 9449 §8). */
        requireNonce: z.boolean().default(true),
        /** How long a server nonce is accepted. */
        nonceLifetimeSeconds: seconds.default(300),
        /** Oldest DPoP proof accepted, by its `iat` (the verifier's default too). */
        proofMaxAgeSeconds: seconds.default(DEFAULT_DPOP_MAX_AGE_SECONDS),
        /** Base64 of at least 32 random bytes, shared by replicas; default: derived from keys.kek. */
        nonceSecret: z
          .string()
          .refine((v) => Buffer.from(v, 'base64').length >= 32, 'must be base64 of at least 32 bytes')
          .optional(),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        /** argon2id PHC hash of the admin bearer token. Without one the admin API is off. */
        tokenHash: z
          .string()
          .regex(
            /^\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/,
            'must be an argon2id PHC hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash)',
          )
          .optional(),
        /** How long a verified admin token is trusted without running argon2 again. */
        tokenCacheSeconds: seconds.default(60),
        /**
         * Without a tokenHash: create an admin token on the first start of the store, keep only
         * its hash there (shared by replicas), and print the token once. False: admin API off.
         */
        bootstrap: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    /** Human approval with security keys (README "Human approval"). */
    approvals: z
      .object({
        /** Life of an approval request: approvers must decide, and the agent collect, within it. */
        timeoutSeconds: seconds.max(24 * 3600).default(300),
        /** CIBA polling interval given to agents. */
        pollIntervalSeconds: seconds.max(60).default(5),
        /** Life of one WebAuthn challenge on the approval page. */
        challengeTtlSeconds: seconds.max(3600).default(180),
        /** Life of an approver inbox session (`/approve`) from its sign-in. */
        inboxSessionSeconds: seconds.max(3600).default(600),
        /** Life of an enrolment invite. */
        inviteTtlSeconds: seconds.max(30 * 24 * 3600).default(3 * 24 * 3600),
        /** How long approval evidence (assertions, keys, manifest) is kept after a token is minted. */
        evidenceRetentionSeconds: seconds.default(400 * 24 * 3600),
        /** WebAuthn relying party id; default: the issuer's host name. Never an IP address. */
        rpId: z.string().min(1).max(253).optional(),
        /** Shown by browsers and authenticators. */
        rpName: z.string().min(1).max(64).default('writ'),
        /** The origin approvers' browsers use; default: the issuer's origin. */
        origin: z.url().optional(),
        attestation: z
          .object({
            /**
             * strict: direct attestation (packed, tpm, fido-u2f) chained to a trust anchor, from an
             * allowed AAGUID. dev: also accepts none/self/unanchored attestation (needs devMode).
             * loadConfig makes dev the default when devMode is on (WRIT_DEV=1).
             */
            mode: z.enum(['strict', 'dev']).default('strict'),
            /** PEM files of attestation root certificates (relative paths: to the config file). */
            rootCertificateFiles: z.array(z.string().min(1)).max(100).default([]),
            /** A local FIDO MDS3 BLOB (JWT) file; never fetched from the network. */
            mdsBlobFile: z.string().min(1).optional(),
            /** PEM root the MDS BLOB's signature must chain to (FIDO: GlobalSign Root CA - R3). */
            mdsRootCertificateFile: z.string().min(1).optional(),
            /** Allowed authenticator models. Strict mode refuses every key until this is set. */
            allowedAaguids: z
              .array(
                z
                  .string()
                  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'expected an AAGUID (UUID form)'),
              )
              .max(1000)
              .default([]),
          })
          .strict()
          .prefault({}),
        webhook: z
          .object({
            /** Attempts per notice, the first included. */
            maxAttempts: z.number().int().min(1).max(20).default(6),
            /** Delay before the first retry; doubles each time (at most 60 s). */
            initialBackoffMs: z.number().int().min(1).max(60_000).default(1000),
            /** Longest wait for one attempt. */
            timeoutMs: z.number().int().min(100).max(60_000).default(5000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  // Cross-field rules run even when a field above failed, so one boot lists every problem.
  .superRefine(
    (c, ctx) => {
      if (!c?.store || !c.keys || !c.tokens) return
      const topologies = [c.store.redisUrl, c.store.sentinels, c.store.clusterNodes].filter((t) => t !== undefined)
      if (c.store.kind === 'redis' && topologies.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['store', 'redisUrl'],
          message: 'required when store.kind is redis (or sentinels + sentinelName, or clusterNodes)',
        })
      }
      if (topologies.length > 1) {
        ctx.addIssue({ code: 'custom', path: ['store'], message: 'name only one of redisUrl, sentinels and clusterNodes' })
      }
      if (c.store.sentinels !== undefined && !c.store.sentinelName) {
        ctx.addIssue({ code: 'custom', path: ['store', 'sentinelName'], message: 'required with store.sentinels' })
      }
      if (c.store.clusterNodes !== undefined && c.store.minReplicasAcked > 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['store', 'minReplicasAcked'],
          message: 'not supported on Redis Cluster (WAIT is per node); use 0',
        })
      }
      const source = c.keys.source ?? (c.store.kind === 'redis' ? 'store' : 'generate')
      if (source === 'store' && !c.keys.kek) {
        ctx.addIssue({
          code: 'custom',
          path: ['keys', 'kek'],
          message: 'required when keys live in the store (set WRIT_KEK to base64 of 32 random bytes)',
        })
      }
      if (c.policySource === 'store' && !c.keys.kek) {
        ctx.addIssue({
          code: 'custom',
          path: ['keys', 'kek'],
          message: 'required when the policy lives in the store (policySource: store): the stored policy is sealed under it',
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
      // Ensure attestation is relaxed only on a broker that is in dev mode as a whole.
      if (c.approvals?.attestation?.mode === 'dev' && !c.devMode) {
        ctx.addIssue({
          code: 'custom',
          path: ['approvals', 'attestation', 'mode'],
          message: 'dev relaxes security key attestation and needs devMode: true (WRIT_DEV=1)',
        })
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
  // A loopback or wildcard listener is reached as localhost: a host name WebAuthn accepts as an
  // RP ID (never an IP address) and a secure context over plain http, so approvals work locally.
  const hostForUrl = ['0.0.0.0', '::', '::1'].includes(c.host) || /^127\.\d+\.\d+\.\d+$/.test(c.host) ? 'localhost' : c.host
  const issuer = (c.issuer ?? `http://${hostForUrl.includes(':') ? `[${hostForUrl}]` : hostForUrl}:${c.port}`).replace(/\/+$/, '')
  const source = c.keys.source ?? (c.store.kind === 'redis' ? 'store' : 'generate')
  return { ...c, issuer, keys: { ...c.keys, source } }
}

type Env = Record<string, string | undefined>

/** Where an environment variable's value goes in the config, and how it is read. */
export interface EnvironmentVariable {
  name: string
  /** The config setting(s) it sets, as a path (`store.redisUrl`), for the docs. */
  setting: string
  /** Writes `value` into the config being built (`put(path, value)` creates sections). */
  apply(value: string, put: (path: string, value: unknown) => void): void
}

const flag = (value: string): boolean => value === '1' || value === 'true'

/**
 * Every environment variable the broker reads besides `WRIT_CONFIG` (the config file), in the
 * order they are applied: the one list `loadConfig` walks and the README's table is checked against
 * (`test/config-environment.test.ts`). A variable set to the empty string counts as unset.
 */
export const ENVIRONMENT: readonly EnvironmentVariable[] = [
  { name: 'HOST', setting: 'host', apply: (v, put) => put('host', v) },
  { name: 'PORT', setting: 'port', apply: (v, put) => put('port', v) },
  { name: 'WRIT_ISSUER', setting: 'issuer', apply: (v, put) => put('issuer', v) },
  { name: 'WRIT_DEV', setting: 'devMode', apply: (v, put) => put('devMode', flag(v)) },
  { name: 'WRIT_POLICY', setting: 'policyFile', apply: (v, put) => put('policyFile', v) },
  { name: 'WRIT_POLICY_SOURCE', setting: 'policySource', apply: (v, put) => put('policySource', v) },
  {
    name: 'REDIS_URL',
    setting: 'store.kind, store.redisUrl',
    apply: (v, put) => (put('store.kind', 'redis'), put('store.redisUrl', v)),
  },
  {
    name: 'REDIS_SENTINELS',
    setting: 'store.kind, store.sentinels',
    apply: (v, put) => (put('store.kind', 'redis'), put('store.sentinels', v)),
  },
  { name: 'REDIS_SENTINEL_NAME', setting: 'store.sentinelName', apply: (v, put) => put('store.sentinelName', v) },
  {
    name: 'REDIS_CLUSTER_NODES',
    setting: 'store.kind, store.clusterNodes',
    apply: (v, put) => (put('store.kind', 'redis'), put('store.clusterNodes', v)),
  },
  { name: 'REDIS_USERNAME', setting: 'store.username', apply: (v, put) => put('store.username', v) },
  { name: 'REDIS_PASSWORD', setting: 'store.password', apply: (v, put) => put('store.password', v) },
  {
    name: 'REDIS_MIN_REPLICAS_ACKED',
    setting: 'store.minReplicasAcked',
    apply: (v, put) => put('store.minReplicasAcked', Number(v)),
  },
  { name: 'WRIT_KEY_PREFIX', setting: 'store.keyPrefix', apply: (v, put) => put('store.keyPrefix', v) },
  { name: 'WRIT_KEK', setting: 'keys.kek', apply: (v, put) => put('keys.kek', v) },
  { name: 'WRIT_SIGNING_ALG', setting: 'keys.alg', apply: (v, put) => put('keys.alg', v) },
  { name: 'WRIT_LOG_LEVEL', setting: 'log.level', apply: (v, put) => put('log.level', v) },
  { name: 'WRIT_METRICS_TOKEN', setting: 'metrics.bearerToken', apply: (v, put) => put('metrics.bearerToken', v) },
  { name: 'WRIT_METRICS_LISTEN', setting: 'metrics.listen', apply: (v, put) => put('metrics.listen', v) },
  { name: 'WRIT_AUDIT_STDOUT', setting: 'audit.stdout', apply: (v, put) => put('audit.stdout', flag(v)) },
  { name: 'WRIT_DPOP_NONCE_SECRET', setting: 'dpop.nonceSecret', apply: (v, put) => put('dpop.nonceSecret', v) },
  { name: 'WRIT_ADMIN_TOKEN_HASH', setting: 'admin.tokenHash', apply: (v, put) => put('admin.tokenHash', v) },
  {
    name: 'WRIT_ADMIN_BOOTSTRAP',
    setting: 'admin.bootstrap',
    apply: (v, put) => put('admin.bootstrap', v !== 'false' && v !== '0'),
  },
]

/**
 * Reads the config file named by `WRIT_CONFIG` (YAML or JSON) and overlays the environment
 * variables of {@link ENVIRONMENT}. Every problem is reported at once in a ConfigError.
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
  const put = (path: string, value: unknown): void => {
    const parts = path.split('.')
    let at = merged
    for (const part of parts.slice(0, -1)) {
      const existing = at[part]
      // Sections are copied, never edited in place: the file's own object stays as it was read.
      const copy = existing && typeof existing === 'object' && !Array.isArray(existing) ? { ...(existing as object) } : {}
      at[part] = copy
      at = copy as Record<string, unknown>
    }
    at[parts.at(-1)!] = value
  }
  for (const variable of ENVIRONMENT) {
    const value = env[variable.name]
    if (value) variable.apply(value, put)
  }
  if (!env.WRIT_POLICY && typeof merged.policyFile === 'string' && configPath && !isAbsolute(merged.policyFile)) {
    // A relative policy path in a config file is relative to that file.
    merged.policyFile = resolve(dirname(configPath), merged.policyFile)
  }
  const attestation = (merged.approvals as { attestation?: Record<string, unknown> } | undefined)?.attestation
  if (configPath && attestation && typeof attestation === 'object') {
    // Certificate and MDS paths in a config file are relative to that file, like the policy.
    const relative = (p: unknown): unknown => (typeof p === 'string' && !isAbsolute(p) ? resolve(dirname(configPath), p) : p)
    const files = attestation.rootCertificateFiles
    const resolved = {
      ...attestation,
      ...(Array.isArray(files) ? { rootCertificateFiles: files.map(relative) } : {}),
      ...(attestation.mdsBlobFile !== undefined ? { mdsBlobFile: relative(attestation.mdsBlobFile) } : {}),
      ...(attestation.mdsRootCertificateFile !== undefined
        ? { mdsRootCertificateFile: relative(attestation.mdsRootCertificateFile) }
        : {}),
    }
    put('approvals.attestation', resolved)
  }
  const approvals = merged.approvals as { attestation?: { mode?: unknown } } | undefined
  if (merged.devMode === true && approvals?.attestation?.mode === undefined) {
    // Dev mode alone is the local-trial recipe: dev attestation unless the file asks for strict.
    put('approvals.attestation.mode', 'dev')
  }
  return parseConfig(merged)
}
