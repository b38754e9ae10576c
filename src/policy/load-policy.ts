import { readFileSync } from 'node:fs'
import { YamlSyntaxError, parseSafeYaml } from '../manifest/parse-safe-yaml.js'
import { findJsonProblems } from '../manifest/json-problems.js'
import { normalizePersonId } from '../text/normalize-person-id.js'
import { formatIssues, friendlyErrors } from '../validation.js'
import { type PolicyDocument, policySchema } from './schema.js'
import {
  type ApproverGroup,
  type ApproverWebhook,
  type Policy,
  PolicyError,
  type PolicyClient,
  type PublicJwk,
  type PolicyRule,
  type PolicyScope,
  type TrustedIssuer,
} from './types.js'
import type { AuthorizationDetail } from '../manifest/types.js'
import { isMcpAction, MCP_ACTIONS, MCP_TYPE } from '../mcp/mcp-grant.js'
import { mcpGrantProblem } from '../mcp/validate-mcp-grants.js'

/** Clock skew allowed for a trusted issuer's tokens unless it says (`issuers[].clock_tolerance`). */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30

export interface LoadPolicyOptions {
  /** Where the text came from (a file path), named in errors. */
  source?: string
}

/**
 * Parses and validates a policy (YAML). Every problem is collected and reported at once:
 * malformed YAML (with line and column), wrong or unknown fields, duplicate ids, references to
 * unknown rules or approver groups, approval counts a group cannot meet, client secrets that are
 * not argon2id hashes, JWKs with private members or without a `kid`, auth methods without
 * (or with the wrong) credentials, and plain-name members (`alice`) in a group that a rule
 * forbidding self-approval draws on (such a group must list people by address). Default deny: the policy allows only what its rules match.
 *
 * @throws PolicyError with `problems`, one per problem, each naming its path:
 *   `rules[2].approval.from: unknown approver group "ops"`.
 */
export function loadPolicy(text: string, options: LoadPolicyOptions = {}): Policy {
  const { source } = options
  let raw: unknown
  try {
    raw = parseSafeYaml(text)
  } catch (err) {
    if (err instanceof YamlSyntaxError) throw new PolicyError(err.problems, source)
    throw err
  }
  // Ensure the document is plain data (no NaN, no __proto__ keys) before anything walks it.
  const problems = findJsonProblems(raw)
  const result = policySchema.safeParse(raw, { error: friendlyErrors })
  if (!result.success) problems.push(...formatIssues(result.error.issues))
  problems.push(...crossReferenceProblems(raw))
  if (problems.length > 0 || !result.success) {
    throw new PolicyError(problems.length > 0 ? [...new Set(problems)] : ['invalid policy'], source)
  }
  return build(result.data, source)
}

/** Reads a policy file (UTF-8 YAML) and loads it with {@link loadPolicy}. */
export function loadPolicyFile(path: string): Policy {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new PolicyError([`cannot read the policy file: ${reason}`], path)
  }
  return loadPolicy(text, { source: path })
}

type Raw = Record<string, unknown>
const records = (value: unknown): Array<[number, Raw]> =>
  Array.isArray(value)
    ? value.flatMap((item, i): Array<[number, Raw]> =>
        item !== null && typeof item === 'object' && !Array.isArray(item) ? [[i, item as Raw]] : [],
      )
    : []
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

/**
 * Problems that span entries: duplicates, references, auth method consistency, approval counts.
 * Works on the raw document, leniently, so they are reported alongside structural problems.
 */
function crossReferenceProblems(raw: unknown): string[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return []
  const doc = raw as Raw
  const problems: string[] = []

  const indexIds = (list: string, what: string): Map<string, number> => {
    const seen = new Map<string, number>()
    for (const [i, item] of records(doc[list])) {
      const id = str(item.id)
      if (id === undefined) continue
      const first = seen.get(id)
      // Ensure ids are unique: a second entry would silently shadow or be shadowed.
      if (first !== undefined) {
        problems.push(`${list}[${i}].id: duplicate ${what} id "${id}" (also ${list}[${first}])`)
      } else {
        seen.set(id, i)
      }
    }
    return seen
  }
  const ruleIds = indexIds('rules', 'rule')
  const groupIds = indexIds('approver_groups', 'approver group')
  const clientIds = indexIds('clients', 'client')

  const memberCounts = new Map<string, number>()
  /** Per group id: its members that are plain names, not addresses (`alice`), with their path. */
  const plainNames = new Map<string, Array<{ at: string; raw: string }>>()
  for (const [i, group] of records(doc.approver_groups)) {
    if (!Array.isArray(group.members)) continue
    const members = new Map<string, number>()
    const plain: Array<{ at: string; raw: string }> = []
    group.members.forEach((raw: unknown, k) => {
      if (typeof raw !== 'string') return
      // Ensure N-of-M counts distinct people, however each is spelled.
      const normal = normalizePersonId(raw)
      const member = 'id' in normal ? normal.id : raw
      if ('id' in normal && !normal.id.includes('@')) {
        plain.push({ at: `approver_groups[${i}].members[${k}]`, raw })
      }
      const first = members.get(member)
      if (first !== undefined) {
        const where = `approver_groups[${i}].members[${k}]`
        problems.push(`${where}: duplicate member "${raw}" (also members[${first}])`)
      } else {
        members.set(member, k)
      }
    })
    const id = str(group.id)
    if (id !== undefined && !memberCounts.has(id)) {
      memberCounts.set(id, members.size)
      plainNames.set(id, plain)
    }
  }

  for (const [i, client] of records(doc.clients)) {
    const at = `clients[${i}]`
    const auth = str(client.auth)
    // Ensure each client has exactly the credential its auth method uses, and no other.
    if (auth === 'client_secret') {
      if (client.secret_hash === undefined) {
        problems.push(`${at}.secret_hash: required when auth is client_secret`)
      }
      if (client.jwks !== undefined) {
        problems.push(`${at}.jwks: not allowed when auth is client_secret`)
      }
    } else if (auth === 'private_key_jwt') {
      if (client.jwks === undefined) {
        problems.push(`${at}.jwks: required when auth is private_key_jwt`)
      }
      if (client.secret_hash !== undefined) {
        problems.push(`${at}.secret_hash: not allowed when auth is private_key_jwt`)
      }
    } else if (auth === 'none') {
      // Ensure a public client holds no credential, and names where its codes may go.
      if (client.redirect_uris === undefined) {
        problems.push(`${at}.redirect_uris: required when auth is none (a public client)`)
      }
      if (client.secret_hash !== undefined) problems.push(`${at}.secret_hash: not allowed when auth is none`)
      if (client.jwks !== undefined) problems.push(`${at}.jwks: not allowed when auth is none`)
    }
    // Ensure only public clients register redirect URIs: the code flow is for them alone.
    if (auth !== 'none' && client.redirect_uris !== undefined) {
      problems.push(`${at}.redirect_uris: allowed only when auth is none (a public client)`)
    }
    if (Array.isArray(client.rules)) {
      const listed = new Set<string>()
      client.rules.forEach((ruleId: unknown, k) => {
        if (typeof ruleId !== 'string') return
        // Ensure a client is granted only rules that exist; a typo must not pass silently.
        if (!ruleIds.has(ruleId)) problems.push(`${at}.rules[${k}]: unknown rule "${ruleId}"`)
        else if (listed.has(ruleId)) {
          problems.push(`${at}.rules[${k}]: rule "${ruleId}" listed twice`)
        }
        listed.add(ruleId)
      })
    }
    const delegateTo = client.delegate_to as Raw | undefined
    if (delegateTo && typeof delegateTo === 'object' && Array.isArray(delegateTo.clients)) {
      delegateTo.clients.forEach((to: unknown, k) => {
        // Ensure a client delegates only to clients that exist; a typo must not pass silently.
        if (typeof to === 'string' && !clientIds.has(to)) {
          problems.push(`${at}.delegate_to.clients[${k}]: unknown client "${to}"`)
        }
      })
    }
    const jwks = client.jwks
    if (jwks !== null && typeof jwks === 'object' && !Array.isArray(jwks)) {
      const kids = new Map<string, number>()
      for (const [k, key] of records((jwks as Raw).keys)) {
        const kid = str(key.kid)
        if (kid === undefined) continue
        const first = kids.get(kid)
        // Ensure a kid names one key, so an assertion's kid selects exactly one.
        if (first !== undefined) {
          problems.push(`${at}.jwks.keys[${k}].kid: duplicate kid "${kid}" (also keys[${first}])`)
        } else {
          kids.set(kid, k)
        }
      }
    }
  }

  for (const [i, rule] of records(doc.rules)) {
    const match = rule.match as Raw | undefined
    // Ensure an aws rule pins the roles it allows: without locations it would allow any role.
    if (match && typeof match === 'object' && match.type === 'aws' && match.locations === undefined) {
      problems.push(`rules[${i}].match.locations: required for type aws (the role ARNs the rule allows)`)
    }
    // Ensure an mcp rule names MCP methods: any other action could never match a valid grant.
    if (match && typeof match === 'object' && match.type === MCP_TYPE && Array.isArray(match.actions)) {
      match.actions.forEach((action: unknown, k) => {
        if (typeof action === 'string' && !isMcpAction(action)) {
          const known = Object.keys(MCP_ACTIONS).join(', ')
          problems.push(`rules[${i}].match.actions[${k}]: unknown MCP action "${action}"; expected one of ${known}`)
        }
      })
    }
  }

  const issuerIds = new Map<string, number>()
  for (const [i, entry] of records(doc.issuers)) {
    const issuer = str(entry.issuer)
    if (issuer === undefined) continue
    const first = issuerIds.get(issuer)
    // Ensure an issuer is configured once: two entries would disagree on keys or audience.
    if (first !== undefined) {
      problems.push(`issuers[${i}].issuer: duplicate issuer "${issuer}" (also issuers[${first}])`)
    } else {
      issuerIds.set(issuer, i)
    }
  }

  const scopeNames = new Map<string, number>()
  for (const [i, scope] of records(doc.scopes)) {
    const name = str(scope.name)
    if (name !== undefined) {
      const first = scopeNames.get(name)
      // Ensure a scope name means one thing.
      if (first !== undefined) {
        problems.push(`scopes[${i}].name: duplicate scope "${name}" (also scopes[${first}])`)
      } else {
        scopeNames.set(name, i)
      }
    }
    for (const [k, grant] of records(scope.grants)) {
      if (grant.type !== MCP_TYPE) continue
      // Ensure an MCP template expands to grants the MCP check understands (locations may come
      // from the request's resource).
      const problem = mcpGrantProblem(grant as AuthorizationDetail, { requireLocations: false })
      if (problem !== undefined) problems.push(`scopes[${i}].grants[${k}].${problem}`)
    }
  }

  /** Groups a rule forbidding self-approval draws on, each with the first such rule. */
  const selfApprovalGroups = new Map<string, string>()
  for (const [i, rule] of records(doc.rules)) {
    const approval = rule.approval
    if (approval === null || typeof approval !== 'object' || Array.isArray(approval)) continue
    const from = str((approval as Raw).from)
    const approvers = (approval as Raw).approvers
    if (from === undefined) continue
    if ((approval as Raw).forbid_self_approval !== false && !selfApprovalGroups.has(from)) {
      selfApprovalGroups.set(from, str(rule.id) ?? `rules[${i}]`)
    }
    // Ensure approvals go to a group that exists.
    if (!groupIds.has(from)) {
      problems.push(`rules[${i}].approval.from: unknown approver group "${from}"`)
      continue
    }
    const members = memberCounts.get(from)
    // Ensure the group can ever reach the number of approvals the rule needs.
    if (typeof approvers === 'number' && members !== undefined && approvers > members) {
      problems.push(
        `rules[${i}].approval.approvers: needs ${approvers} approvers but group "${from}" ` +
          `has ${members} member${members === 1 ? '' : 's'}`,
      )
    }
  }

  for (const [group, ruleId] of selfApprovalGroups) {
    // Ensure forbid_self_approval can hold: it compares each approver with task.requested_by, an
    // address, so a member named `carol` would never be the requester carol@example.com.
    for (const { at, raw } of plainNames.get(group) ?? []) {
      problems.push(
        `${at}: group "${group}" member "${raw}" must be an address (like carol@example.com), ` +
          `because rule "${ruleId}" forbids self-approval (it compares approvers with task.requested_by)`,
      )
    }
  }
  return problems
}

function build(doc: PolicyDocument, source: string | undefined): Policy {
  const clients = new Map<string, PolicyClient>()
  for (const c of doc.clients) {
    const base = {
      id: c.id,
      rules: [...c.rules],
      maxLiveGrants: c.max_live_grants,
      maxPendingApprovals: c.max_pending_approvals,
      introspect: c.introspect,
      ...(c.delegate_to
        ? { delegateTo: { clients: [...c.delegate_to.clients], maxDepth: c.delegate_to.max_depth } }
        : {}),
    }
    clients.set(
      c.id,
      c.auth === 'client_secret'
        ? { ...base, auth: 'client_secret', secretHash: c.secret_hash! }
        : c.auth === 'none'
          ? { ...base, auth: 'none', redirectUris: [...c.redirect_uris!] }
          : { ...base, auth: 'private_key_jwt', jwks: { keys: c.jwks!.keys.map(publicMembers) } },
    )
  }
  const approverGroups = new Map<string, ApproverGroup>()
  for (const g of doc.approver_groups) {
    const targets = g.webhook ?? []
    const group: ApproverGroup = {
      id: g.id,
      members: [...g.members],
      webhooks: targets.map(
        (w): ApproverWebhook =>
          w.format === 'signed'
            ? { format: 'signed', url: w.url!, secretEnv: w.secret_env! }
            : w.url !== undefined
              ? { format: 'slack', url: w.url }
              : { format: 'slack', urlEnv: w.url_env! },
      ),
    }
    approverGroups.set(g.id, group)
  }
  const rules = doc.rules.map((r, index): PolicyRule => {
    const rule: PolicyRule = {
      id: r.id,
      index,
      match: { type: r.match.type, actions: [...r.match.actions] },
      maxTtlSeconds: r.max_ttl,
      approval: r.approval
        ? {
            approvers: r.approval.approvers,
            from: r.approval.from,
            requireDpop: r.approval.require_dpop,
            forbidSelfApproval: r.approval.forbid_self_approval,
          }
        : null,
    }
    if (r.description !== undefined) rule.description = r.description
    if (r.match.locations) rule.match.locations = [...r.match.locations]
    if (r.match.identifier !== undefined) rule.match.identifier = r.match.identifier
    if (r.resources) rule.resources = [...r.resources]
    if (r.person) {
      rule.person = {}
      if (r.person.subjects) rule.person.subjects = [...r.person.subjects]
      if (r.person.claims) rule.person.claims = Object.fromEntries(Object.entries(r.person.claims).map(([k, v]) => [k, [...v]]))
    }
    return rule
  })
  const scopes = new Map<string, PolicyScope>()
  for (const sc of doc.scopes) {
    const grants = sc.grants.map((g) => ({ ...g }) as AuthorizationDetail)
    const scope: PolicyScope = { name: sc.name, grants }
    if (sc.description !== undefined) scope.description = sc.description
    scopes.set(sc.name, scope)
  }
  const issuers = new Map<string, TrustedIssuer>()
  for (const i of doc.issuers) {
    issuers.set(i.issuer, {
      issuer: i.issuer,
      jwksUri: i.jwks_uri,
      audience: [...i.audience],
      algorithms: [...i.algorithms],
      clockToleranceSeconds: i.clock_tolerance ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
      subjectClaim: i.subject_claim,
    })
  }
  const policy: Policy = {
    version: 1,
    issuers,
    clients,
    approverGroups,
    rules,
    ruleById: new Map(rules.map((r) => [r.id, r])),
    scopes,
  }
  if (source !== undefined) policy.source = source
  return policy
}

/** Only the public members writ understands; anything else in the JWK is dropped. */
function publicMembers(
  jwk: Record<string, unknown> & { kty: PublicJwk['kty']; kid: string },
): PublicJwk {
  const out: PublicJwk = { kty: jwk.kty, kid: jwk.kid }
  for (const member of ['alg', 'use', 'crv', 'x', 'y', 'n', 'e'] as const) {
    const value = jwk[member]
    if (typeof value === 'string') out[member] = value
  }
  if (Array.isArray(jwk.key_ops)) {
    out.key_ops = jwk.key_ops.filter((op): op is string => typeof op === 'string')
  }
  return out
}
