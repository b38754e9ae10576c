import { type JsonWebKey, createPublicKey } from 'node:crypto'
import { z } from 'zod'
import { authorizationDetailsSchema, durationSchema } from '../manifest/schema.js'
import { normalizePersonId } from '../text/normalize-person-id.js'
import { isHttpsUrl } from './is-https-url.js'
import { redirectUriProblem } from './redirect-uri.js'
import { friendlyErrors } from '../validation.js'

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
const ID = /^[A-Za-z0-9_.:@-]+$/
const DETAIL_TYPE = /^[A-Za-z0-9_.:-]+$/
/** argon2id in PHC string format, as @node-rs/argon2 and the reference implementation write it. */
const ARGON2ID_PHC =
  /^\$argon2id\$v=19\$m=\d{1,10},t=\d{1,10},p=\d{1,3}\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$/
const ENV_NAME = /^[A-Z_][A-Z0-9_]{0,127}$/
/** JWK members that carry private or symmetric key material. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const
const SIGNING_ALGS = new Set([
  ...['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'],
  ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
])
const CURVES: Record<string, ReadonlySet<string>> = {
  EC: new Set(['P-256', 'P-384', 'P-521']),
  OKP: new Set(['Ed25519', 'Ed448']),
}

const typeError =
  (expected: string) =>
  (issue: { code?: string; input?: unknown }): string | undefined => {
    if (issue.code !== 'invalid_type') return undefined
    return issue.input === undefined ? 'required' : `expected ${expected}`
  }

const id = z
  .string({ error: typeError('a string') })
  .min(1)
  .max(128)
  .regex(ID, { error: 'expected letters, digits and _ . : @ - only' })

const text = (max: number) =>
  z
    .string({ error: typeError('a string') })
    .max(max)
    .refine((s) => !CONTROL.test(s), { error: 'must not contain control characters' })

// As many as the policy may hold rules: decisions use an index (rule-index.ts), so a client's rule
// count does not slow issuance down.
const idList = z.array(id, { error: typeError('a list of ids') }).max(10_000)

/** A public JWK: asymmetric, a `kid`, no private members, importable, RSA ≥ 2048 bits. */
const publicJwk = z
  .looseObject(
    {
      kty: z.enum(['EC', 'OKP', 'RSA'], {
        error: (i) =>
          i.input === 'oct'
            ? 'symmetric (oct) keys are not allowed; register a public key'
            : i.input === undefined
              ? 'required'
              : 'expected EC, OKP or RSA',
      }),
      kid: z.string({ error: typeError('a string') }).min(1).max(256),
      alg: z.string({ error: typeError('a string') }).optional(),
      use: z.string({ error: typeError('a string') }).optional(),
      key_ops: z.array(z.string()).optional(),
      crv: z.string({ error: typeError('a string') }).optional(),
      x: z.string({ error: typeError('a string') }).optional(),
      y: z.string({ error: typeError('a string') }).optional(),
      n: z.string({ error: typeError('a string') }).optional(),
      e: z.string({ error: typeError('a string') }).optional(),
    },
    { error: typeError('a JWK object') },
  )
  .superRefine((jwk, ctx) => {
    let privateMember = false
    for (const member of PRIVATE_MEMBERS) {
      // Ensure no private key material sits in the policy file: the broker only verifies.
      if (member in jwk) {
        const message = 'private key member not allowed; register the public key only'
        ctx.addIssue({ code: 'custom', path: [member], message })
        privateMember = true
      }
    }
    // Ensure the key is for signatures, not encryption.
    if (jwk.use !== undefined && jwk.use !== 'sig') {
      ctx.addIssue({ code: 'custom', path: ['use'], message: 'expected "sig"' })
    }
    if (jwk.key_ops !== undefined && jwk.key_ops.some((op) => op !== 'verify')) {
      ctx.addIssue({ code: 'custom', path: ['key_ops'], message: 'expected only "verify"' })
    }
    if (jwk.alg !== undefined && !SIGNING_ALGS.has(jwk.alg)) {
      const message = `expected one of ${[...SIGNING_ALGS].join(', ')}`
      ctx.addIssue({ code: 'custom', path: ['alg'], message })
    }
    const curves = CURVES[jwk.kty]
    if (curves && (jwk.crv === undefined || !curves.has(jwk.crv))) {
      const message = `expected one of ${[...curves].join(', ')}`
      ctx.addIssue({ code: 'custom', path: ['crv'], message })
      return
    }
    if (privateMember) return
    try {
      // Ensure the key is well formed (a point on its curve, a usable modulus).
      const key = createPublicKey({ key: { ...jwk } as JsonWebKey, format: 'jwk' })
      const bits = key.asymmetricKeyDetails?.modulusLength
      // Ensure RSA keys are not too short to trust.
      if (jwk.kty === 'RSA' && (bits === undefined || bits < 2048)) {
        const message = `RSA keys must have at least 2048 bits (got ${bits ?? '?'})`
        ctx.addIssue({ code: 'custom', path: ['n'], message })
      }
    } catch {
      ctx.addIssue({ code: 'custom', message: `not a valid ${jwk.kty} public key` })
    }
  })

/** A redirect URI a public client may register (see `redirectUriProblem`). */
const redirectUri = z
  .string({ error: typeError('a string') })
  .max(2048)
  .superRefine((value, ctx) => {
    const problem = redirectUriProblem(value)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  })

/** How many approval requests a client may keep waiting for humans at once, unless it says. */
export const DEFAULT_MAX_PENDING_APPROVALS = 20

const client = z.strictObject(
  {
    id,
    auth: z.enum(['client_secret', 'private_key_jwt', 'none'], {
      error: (i) =>
        i.input === undefined ? 'required' : 'expected client_secret, private_key_jwt or none',
    }),
    secret_hash: z
      .string({ error: typeError('a string') })
      // Ensure stored secrets are argon2id hashes, never plaintext or a weaker scheme.
      .regex(ARGON2ID_PHC, {
        error: 'expected an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)',
      })
      .optional(),
    jwks: z
      .strictObject(
        { keys: z.array(publicJwk, { error: typeError('an array of JWKs') }).min(1).max(20) },
        { error: typeError('a JWK Set, { keys: [...] }') },
      )
      .optional(),
    /** A public client's (`auth: none`) redirect URIs, for the authorization code flow. */
    redirect_uris: z
      .array(redirectUri, { error: typeError('a list of redirect URIs') })
      .min(1, { error: 'expected at least one redirect URI' })
      .max(20)
      .optional(),
    rules: idList.default([]),
    max_live_grants: z
      .number({ error: typeError('a number') })
      .int()
      .min(1)
      .max(1_000_000)
      .default(100),
    max_pending_approvals: z
      .number({ error: typeError('a number') })
      .int()
      .min(1)
      .max(10_000)
      .default(DEFAULT_MAX_PENDING_APPROVALS),
    /** `own`: introspection answers only about this client's tokens; `any`: a resource server. */
    introspect: z
      .enum(['own', 'any'], {
        error: (i) => (i.input === undefined ? 'required' : 'expected own or any'),
      })
      .default('own'),
    /**
     * Token exchange (RFC 8693): the clients this client may hand a narrower token to, and how
     * long a chain of such hand-overs may grow (the receiving token's depth, from 1).
     */
    delegate_to: z
      .strictObject(
        {
          clients: idList.min(1),
          max_depth: z.number({ error: typeError('a number') }).int().min(1).max(16).default(1),
        },
        { error: typeError('an object { clients: [...], max_depth: N }') },
      )
      .optional(),
  },
  { error: typeError('an object') },
)

const webhookUrl = z
  .string({ error: typeError('a string') })
  .max(2048)
  // Ensure approval requests are announced over TLS, except to this machine.
  .refine(isHttpsUrl, { error: 'expected an https URL (http only for localhost)' })

const envName = (example: string) =>
  z
    .string({ error: typeError('a string') })
    .regex(ENV_NAME, { error: `expected an environment variable name like ${example}` })

/**
 * Where a group's approval requests are announced: `format: signed` (the default) posts writ's
 * JSON signed with the secret in `secret_env`; `format: slack` posts a Slack incoming-webhook
 * message to `url`, or to the URL in the environment variable `url_env` (a Slack webhook URL is
 * itself a secret: keep it out of the policy file).
 */
const webhookTarget = z
  .strictObject(
    {
      format: z.enum(['signed', 'slack'], { error: 'expected "signed" or "slack"' }).default('signed'),
      url: webhookUrl.optional(),
      url_env: envName('WRIT_SLACK_WEBHOOK_URL').optional(),
      secret_env: envName('WRIT_WEBHOOK_SECRET').optional(),
    },
    { error: typeError('an object like { url, secret_env } or { format: slack, url_env }') },
  )
  .superRefine((target, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message })
    if (target.format === 'signed') {
      // Ensure every writ-format notice is signed, to a URL written in the policy.
      if (target.url === undefined) problem('url', 'required')
      if (target.secret_env === undefined) problem('secret_env', 'required (the notices are signed with it)')
      if (target.url_env !== undefined) problem('url_env', 'only for format: slack')
    } else {
      if ((target.url === undefined) === (target.url_env === undefined)) {
        problem('url_env', 'format: slack needs exactly one of url and url_env')
      }
      if (target.secret_env !== undefined) problem('secret_env', 'not used by format: slack (Slack does not check signatures)')
    }
  })

const webhookTargetList = z
  .array(webhookTarget, { error: typeError('a list of webhooks') })
  .min(1, { error: 'expected at least one webhook' })
  .max(4)

/** A group's webhooks: one target, or a list of them (read as a list). */
const webhookTargets = z.unknown().transform((value, ctx) => {
  const parsed = Array.isArray(value) ? webhookTargetList.safeParse(value) : webhookTarget.safeParse(value)
  if (parsed.success) return Array.isArray(parsed.data) ? parsed.data : [parsed.data]
  for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path })
  return z.NEVER
})

/** An approver id, in the one normal form every comparison of people uses. */
const member = text(256)
  .min(1)
  .transform((value, ctx) => {
    const result = normalizePersonId(value)
    if ('id' in result) return result.id
    ctx.addIssue({ code: 'custom', message: result.problem, input: value })
    return z.NEVER
  })

const approverGroup = z.strictObject(
  {
    id,
    members: z
      .array(member, { error: typeError('a list of approver ids') })
      .min(1, { error: 'expected at least one member' })
      .max(1000),
    webhook: webhookTargets.optional(),
  },
  { error: typeError('an object') },
)

const approvalObject = z.strictObject({
  approvers: z.number({ error: typeError('a number') }).int().min(1).max(100),
  from: id,
  require_dpop: z.boolean({ error: typeError('true or false') }).default(false),
  forbid_self_approval: z.boolean({ error: typeError('true or false') }).default(true),
})

/** `none`, or `{ approvers, from, require_dpop?, forbid_self_approval? }`; output null for none. */
const approval = z.unknown().transform((value, ctx) => {
  if (value === 'none') return null
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({
      code: 'custom',
      input: value,
      message:
        value === undefined
          ? 'required: none, or { approvers: N, from: GROUP }'
          : 'expected none, or { approvers: N, from: GROUP }',
    })
    return z.NEVER
  }
  const result = approvalObject.safeParse(value, { error: friendlyErrors })
  if (result.success) return result.data
  for (const issue of result.error.issues) {
    ctx.addIssue({ code: 'custom', input: value, path: issue.path, message: issue.message })
  }
  return z.NEVER
})

const pattern = (max: number) => text(max).min(1)

const CLAIM_NAME = /^[A-Za-z0-9_.:-]{1,64}$/

/** A rule's conditions on the person a request acts for (token exchange with an ID token). */
const rulePerson = z
  .strictObject(
    {
      subjects: z
        .array(member, { error: typeError('a list of person ids') })
        .min(1, { error: 'expected at least one person, or leave the field out' })
        .max(1000)
        .optional(),
      claims: z
        .record(
          z.string().regex(CLAIM_NAME, { error: 'expected a claim name (letters, digits and _ . : -)' }),
          z
            .array(text(256).min(1), { error: typeError('a list of accepted values') })
            .min(1, { error: 'expected at least one value' })
            .max(100),
          { error: typeError('a mapping of claim name to accepted values') },
        )
        .optional(),
    },
    { error: typeError('an object like { subjects?: [...], claims?: { groups: [...] } }') },
  )
  .refine((p) => p.subjects !== undefined || (p.claims !== undefined && Object.keys(p.claims).length > 0), {
    error: 'expected subjects or claims',
  })

/** JWS algorithms an identity provider may sign subject tokens with: asymmetric only. */
export const ISSUER_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const

/** An https URL (http only for this machine), like webhook URLs. */
const httpsUrl = (what: string) =>
  z
    .string({ error: typeError('a string') })
    .max(2048)
    // Ensure keys that decide who a person is are fetched over TLS, except from this machine.
    .refine(isHttpsUrl, { error: `expected ${what}: an https URL (http only for localhost)` })

/** An identity provider whose ID tokens may be the subject of a token exchange. */
const trustedIssuer = z.strictObject(
  {
    issuer: httpsUrl('the issuer identifier'),
    jwks_uri: httpsUrl("the issuer's JWKS URL"),
    audience: z
      .union([text(256).min(1), z.array(text(256).min(1)).min(1).max(20)], {
        error: (i) => (i.input === undefined ? 'required' : 'expected a client id or a list of them'),
      })
      .transform((a) => (Array.isArray(a) ? a : [a])),
    algorithms: z
      .array(
        z.string({ error: typeError('a string') }).refine((a) => (ISSUER_ALGS as readonly string[]).includes(a), {
          // Ensure no unsigned or HMAC token can ever name a person: HS* would let anyone holding the
          // shared secret (every client of the IdP) forge one.
          error: `expected an asymmetric algorithm: one of ${ISSUER_ALGS.join(', ')} (none and HMAC are refused)`,
        }),
        { error: typeError('a list of JWS algorithms') },
      )
      .min(1)
      .max(ISSUER_ALGS.length)
      .default(['RS256', 'ES256']),
    clock_tolerance: durationSchema
      .refine((seconds) => seconds <= 300, { error: 'expected at most 5m' })
      .optional(),
    subject_claim: z
      .string({ error: typeError('a string') })
      .regex(CLAIM_NAME, { error: 'expected a claim name (letters, digits and _ . : -)' })
      .default('sub'),
  },
  { error: typeError('an object like { issuer, jwks_uri, audience, algorithms? }') },
)

const rule = z.strictObject(
  {
    id,
    description: text(1024).optional(),
    match: z.strictObject(
      {
        type: z
          .string({ error: typeError('a string') })
          .min(1)
          .max(64)
          .regex(DETAIL_TYPE, { error: 'expected letters, digits and _ . : - only' }),
        actions: z
          .array(z.string({ error: typeError('a string') }).min(1).max(64), {
            error: typeError('an array of strings'),
          })
          .min(1, { error: 'expected at least one action' })
          .max(32),
        locations: z
          .array(pattern(2048), { error: typeError('an array of glob patterns') })
          .min(1, { error: 'expected at least one location pattern, or leave the field out' })
          .max(32)
          .optional(),
        identifier: pattern(1024).optional(),
      },
      { error: typeError('an object like { type, actions, locations?, identifier? }') },
    ),
    max_ttl: durationSchema,
    approval,
    // RFC 8707 resource indicators (globs) a token with this rule's grants may also name as aud.
    resources: z
      .array(pattern(2048), { error: typeError('an array of URI patterns') })
      .min(1, { error: 'expected at least one URI pattern, or leave the field out' })
      .max(32)
      .optional(),
    person: rulePerson.optional(),
  },
  { error: typeError('an object') },
)

/** RFC 6749 §3.3 scope-token characters: %x21 / %x23-5B / %x5D-7E. */
const SCOPE_NAME = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** A scope: a name OAuth clients ask for, and the authorization_details templates it expands to. */
const scope = z.strictObject(
  {
    name: z
      .string({ error: typeError('a string') })
      .min(1)
      .max(128)
      .regex(SCOPE_NAME, { error: 'expected a scope token: printable ASCII without spaces, " or \\' }),
    description: text(1024).optional(),
    grants: authorizationDetailsSchema(50, 'grants'),
  },
  { error: typeError('an object like { name, grants: [...] }') },
)

/** The policy file, structurally. Cross-references are checked by `loadPolicy`. */
export const policySchema = z.strictObject(
  {
    version: z.literal(1, {
      error: (i) => (i.input === undefined ? 'required (version: 1)' : 'expected 1'),
    }),
    clients: z.array(client, { error: typeError('a list of clients') }).max(10_000).default([]),
    approver_groups: z
      .array(approverGroup, { error: typeError('a list of approver groups') })
      .max(1000)
      .default([]),
    rules: z.array(rule, { error: typeError('a list of rules') }).max(10_000).default([]),
    scopes: z.array(scope, { error: typeError('a list of scopes') }).max(1000).default([]),
    issuers: z.array(trustedIssuer, { error: typeError('a list of trusted issuers') }).max(100).default([]),
  },
  { error: typeError('a mapping with version, clients, approver_groups and rules') },
)

export type PolicyDocument = z.output<typeof policySchema>
