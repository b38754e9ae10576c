import type { AuthorizationDetail } from '../manifest/types.js'

/** A public key a `private_key_jwt` client signs its assertions with (RFC 7517 JWK). */
export interface PublicJwk {
  kty: 'EC' | 'OKP' | 'RSA'
  kid: string
  alg?: string
  use?: string
  key_ops?: string[]
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
}

interface ClientBase {
  id: string
  /** Ids of the rules this client may use. Rules are still tried in file order. */
  rules: string[]
  /** How many grants this client may hold live at once. */
  maxLiveGrants: number
  /** How many approval requests this client may keep waiting for humans at once. */
  maxPendingApprovals: number
  /**
   * Whose tokens `POST /oauth/introspect` tells this client about: `own` (the default) only its
   * own, as RFC 7662 §4 asks; `any`: every token, for a resource server that checks the tokens
   * agents present to it (the verifier library's `introspection` liveness mode).
   */
  introspect: 'own' | 'any'
  /**
   * Token exchange (RFC 8693, `docs/delegation.md`): the clients this client may hand a narrower
   * token to, and the deepest a delegated token may be (1: a child of a directly issued token).
   * Absent: this client cannot delegate.
   */
  delegateTo?: { clients: string[]; maxDepth: number }
}

/**
 * A registered agent runtime. `secretHash` (an argon2id PHC string) is set exactly when `auth` is
 * `client_secret`; `jwks` (public keys only, each with a `kid`) exactly when `auth` is
 * `private_key_jwt`; `redirectUris` exactly when `auth` is `none`.
 */
export type PolicyClient =
  | (ClientBase & { auth: 'client_secret'; secretHash: string; jwks?: undefined })
  | (ClientBase & { auth: 'private_key_jwt'; jwks: { keys: PublicJwk[] }; secretHash?: undefined })
  /**
   * A public client (RFC 6749 §2.1: a desktop app or IDE that cannot keep a secret). It
   * authenticates nowhere; it may only use the authorization code flow, with PKCE, redirecting
   * to one of `redirectUris` (matched as `matchRedirectUri` says).
   */
  | (ClientBase & { auth: 'none'; redirectUris: string[]; secretHash?: undefined; jwks?: undefined })

export interface ApproverGroup {
  id: string
  /** Approver ids (usually email addresses), distinct. */
  members: string[]
  /** Where this group's approval requests are announced (none: nowhere). */
  webhooks: ApproverWebhook[]
}

/**
 * One place a group's approval requests are announced: writ's JSON signed with the secret in the
 * environment variable `secretEnv`, or a Slack incoming-webhook message to `url` or to the URL in
 * the environment variable `urlEnv`.
 */
export type ApproverWebhook =
  | { format: 'signed'; url: string; secretEnv: string }
  | { format: 'slack'; url: string; urlEnv?: undefined }
  | { format: 'slack'; urlEnv: string; url?: undefined }

/** What a rule's human approval needs: `approvers` distinct people from group `from`. */
export interface RuleApproval {
  approvers: number
  from: string
  /** The token must be DPoP-bound (RFC 9449). Default false. */
  requireDpop: boolean
  /** The person named in the task's `requested_by` may not approve it. Default true. */
  forbidSelfApproval: boolean
}

/** What a rule matches. `locations` and `identifier` are glob patterns (see `glob.ts`). */
export interface RuleMatch {
  type: string
  actions: string[]
  locations?: string[]
  identifier?: string
}

export interface PolicyRule {
  id: string
  /** Position in the file, from 0. Rules are tried in this order; the first match wins. */
  index: number
  description?: string
  match: RuleMatch
  maxTtlSeconds: number
  /** null: `approval: none`, granted without a human. */
  approval: RuleApproval | null
  /**
   * Glob patterns of RFC 8707 resource indicators a token carrying this rule's grants may name as
   * its audience besides the grants' own locations (for example an API gateway in front of them).
   */
  resources?: string[]
  /**
   * Conditions on the person a request acts for (token exchange with an ID token, see
   * `docs/delegation.md`). A rule with `person` matches only requests made for a proven person
   * who meets every condition given; it never matches a request without one.
   */
  person?: RulePerson
}

/**
 * Who a rule may act for. `subjects`: the person's id (normal form) is one of these. `claims`:
 * for each claim named, the ID token's value (a string, or an array of strings) includes one of
 * the values listed. Every condition given must hold.
 */
export interface RulePerson {
  subjects?: string[]
  claims?: Record<string, string[]>
}

/**
 * A person proven by a trusted issuer's signed token (token exchange on behalf of a person).
 * `id` is the issuer's subject claim in normal form (`normalizePersonId`); `claims` holds, for each
 * claim a rule's `person.claims` names, the token's values (a string becomes a one-element list).
 */
export interface ProvenPerson {
  id: string
  issuer: string
  claims: Record<string, string[]>
}

/**
 * An identity provider whose ID tokens (or JWTs) the policy accepts as `subject_token` in token
 * exchange: the person they name is the subject of the issued token.
 */
export interface TrustedIssuer {
  /** The `iss` value, exactly. */
  issuer: string
  /** Where the issuer's public keys are (refetched when a token names an unknown `kid`). */
  jwksUri: string
  /** Accepted `aud` values: the client id(s) the issuer gives these tokens to. */
  audience: string[]
  /** Asymmetric JWS algorithms accepted (never `none` nor HMAC). */
  algorithms: string[]
  /** Seconds of clock skew allowed for `exp`, `iat` and `nbf`. */
  clockToleranceSeconds: number
  /** The claim that names the person (`sub` by default; `email` requires `email_verified: true`). */
  subjectClaim: string
}

/**
 * A scope a plain OAuth client may ask for (`scope=mcp:github:read`): it expands to these
 * authorization_details templates, which are then decided like any grant. A template without
 * `locations` takes the request's `resource` values as its locations.
 */
export interface PolicyScope {
  name: string
  description?: string
  grants: AuthorizationDetail[]
}

/** A validated policy. Anything it does not allow is denied. */
export interface Policy {
  version: 1
  /** Where the policy came from (a file path), for messages. */
  source?: string
  clients: ReadonlyMap<string, PolicyClient>
  approverGroups: ReadonlyMap<string, ApproverGroup>
  /** Every rule, in file order. */
  rules: readonly PolicyRule[]
  ruleById: ReadonlyMap<string, PolicyRule>
  /** Scopes by name, in file order. */
  scopes: ReadonlyMap<string, PolicyScope>
  /** Identity providers trusted for token exchange on behalf of a person, by `iss`. */
  issuers?: ReadonlyMap<string, TrustedIssuer>
}

/** A policy that cannot be used; `problems` lists every problem found, each naming its path. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError'
  constructor(
    readonly problems: string[],
    source?: string,
  ) {
    super(`invalid policy${source ? ` ${source}` : ''}:\n  - ${problems.join('\n  - ')}`)
  }
}
