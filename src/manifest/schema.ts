import { z } from 'zod'
import { normalizePersonId } from '../text/normalize-person-id.js'
import { unsafeCharacter } from '../text/unsafe-character.js'
import { readDuration } from './duration.js'
import { MAX_JSON_DEPTH } from './json-problems.js'
import { resourceNameProblem } from './resource-name-problem.js'
import type { AuthorizationDetail, Manifest, TaskInfo } from './types.js'

/** How many grants a manifest may carry unless configured otherwise. */
export const DEFAULT_MAX_GRANTS = 50

const DETAIL_TYPE = /^[A-Za-z0-9_.:-]+$/
// An RFC 3986 scheme, a colon, then no whitespace or control characters. Anchored and linear.
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s\u0000-\u001f\u007f-\u009f]+$/

/** Members the schema checks itself; the others are type-specific and checked for hidden text. */
const COMMON_MEMBERS = new Set(['type', 'actions', 'locations', 'identifier'])

/**
 * The strings in a JSON value (member names included) with a control, invisible or bidi character,
 * each with its path and problem. Stops at {@link MAX_JSON_DEPTH} (deeper input is refused by
 * `findJsonProblems`), so cycles and hostile nesting are safe.
 */
function hiddenText(root: unknown, rootPath: PropertyKey[]): Array<[PropertyKey[], string]> {
  const found: Array<[PropertyKey[], string]> = []
  const visit = (value: unknown, path: PropertyKey[], depth: number): void => {
    if (found.length >= 20) return
    if (typeof value === 'string') {
      const problem = unsafeCharacter(value)
      if (problem !== undefined) found.push([path, problem])
      return
    }
    if (value === null || typeof value !== 'object' || depth >= MAX_JSON_DEPTH) return
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, [...path, i], depth + 1))
      return
    }
    for (const [name, member] of Object.entries(value)) {
      const problem = unsafeCharacter(name)
      if (problem !== undefined) found.push([path, `field names ${problem}`])
      else visit(member, [...path, name], depth + 1)
    }
  }
  visit(root, rootPath, 0)
  return found
}

/** For wrong types: `required` when the field is missing, `expected ...` otherwise. */
const typeError =
  (expected: string) =>
  (issue: { code?: string; input?: unknown }): string | undefined => {
    if (issue.code !== 'invalid_type') return undefined
    return issue.input === undefined ? 'required' : `expected ${expected}`
  }

/** Adds an issue when the string holds a control, invisible or bidi character. */
const visible = (value: string, ctx: z.RefinementCtx): void => {
  const problem = unsafeCharacter(value)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: value })
}

/** Adds an issue when an identifier or location could mean more than it shows. */
const unambiguous = (value: string, ctx: z.RefinementCtx): void => {
  const problem = resourceNameProblem(value)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: value })
}

// Ensure every string a person reviews shows all it holds: no control, invisible or bidi characters.
const text = (max: number) => z.string({ error: typeError('a string') }).max(max).superRefine(visible)

const detailType = z
  .string({ error: typeError('a string') })
  .min(1)
  .max(64)
  .regex(DETAIL_TYPE, { error: 'expected letters, digits and _ . : - only' })

const action = z.string({ error: typeError('a string') }).min(1).max(64).superRefine(visible)

const location = z
  .string({ error: typeError('a string') })
  .min(1)
  .max(2048)
  .regex(ABSOLUTE_URI, { error: 'expected an absolute URI, like https://api.example.com/' })
  // Ensure a location is no wider than it looks (no dot segments, userinfo, query, ...).
  .superRefine(unambiguous)

/**
 * One RFC 9396 authorization details object. `type` and `actions` are required; `locations` and
 * `identifier` are optional; other members are kept as given (they are part of the manifest hash).
 * JSON-ness of those other members and forbidden member names (`__proto__`, `constructor`,
 * `prototype`) are checked by the parse functions, before this schema runs.
 */
export const authorizationDetailSchema = z
  .object({
    type: detailType,
    actions: z
      .array(action, { error: typeError('an array of strings') })
      .min(1, { error: 'expected at least one action' })
      .max(32, { error: (i) => `at most 32 actions (got ${lengthOf(i.input)})` }),
    locations: z
      .array(location, { error: typeError('an array of strings') })
      .min(1, { error: 'expected at least one location, or leave the field out' })
      .max(32, { error: (i) => `at most 32 locations (got ${lengthOf(i.input)})` })
      .optional(),
    identifier: z
      .string({ error: typeError('a string') })
      .min(1)
      .max(1024)
      // Ensure an identifier is no wider than it looks (no dot segments, backslashes, ...).
      .superRefine(unambiguous)
      .optional(),
  })
  .catchall(z.unknown())
  .superRefine((detail, ctx) => {
    // Ensure the type-specific members (e.g. role_arn) hide nothing either.
    for (const [name, value] of Object.entries(detail)) {
      if (COMMON_MEMBERS.has(name)) continue
      for (const [path, message] of hiddenText({ [name]: value }, [])) {
        ctx.addIssue({ code: 'custom', path, message, input: value })
      }
    }
  })

/** The task a manifest is for. Unknown members are refused. */
export const taskSchema = z.strictObject(
  {
    id: text(128).min(1),
    purpose: text(1024).optional(),
    // Ensure the requester is one person in one spelling: forbid_self_approval compares it.
    requested_by: text(256)
      .transform((value, ctx) => {
        const result = normalizePersonId(value, { address: true })
        if ('id' in result) return result.id
        ctx.addIssue({ code: 'custom', message: result.problem, input: value })
        return z.NEVER
      })
      .optional(),
  },
  { error: typeError('an object like { id: JIRA-4711, purpose: ... }') },
)

/** A duration as written (`15m`, `1h30m`, `900`) to seconds, at most 24h. */
export const durationSchema = z.unknown().transform((value, ctx): number => {
  if (value === undefined) {
    const message = 'required: a duration like 90s, 15m or 1h'
    ctx.addIssue({ code: 'custom', message, input: value })
    return z.NEVER
  }
  const result = readDuration(value)
  if ('seconds' in result) return result.seconds
  ctx.addIssue({ code: 'custom', message: result.problem, input: value })
  return z.NEVER
})

function lengthOf(value: unknown): number | string {
  return Array.isArray(value) ? value.length : '?'
}

/**
 * A list of authorization details with 1..max entries. `noun` names the entries in messages:
 * `grants: at most 50 grants (got 51)`.
 */
export function authorizationDetailsSchema(
  max: number,
  noun = 'grants',
): z.ZodArray<typeof authorizationDetailSchema> {
  const key = `${max}:${noun}`
  let schema = detailListSchemas.get(key)
  if (!schema) {
    schema = z
      .array(authorizationDetailSchema, { error: typeError('an array of objects') })
      .min(1, { error: `expected at least one of the ${noun}` })
      .max(max, { error: (i) => `at most ${max} ${noun} (got ${lengthOf(i.input)})` })
    detailListSchemas.set(key, schema)
  }
  return schema
}

// Schemas are built once per limit: building one costs far more than using it.
const detailListSchemas = new Map<string, z.ZodArray<typeof authorizationDetailSchema>>()

const manifestSchemas = new Map<number, z.ZodType<Manifest>>()

/**
 * The task manifest `{ task, ttl?, grants, resources? }` with at most `maxGrants` grants. Unknown top-level
 * members are refused. The output is the normalized {@link Manifest}: `ttl` becomes `ttlSeconds`.
 */
export function manifestSchema(maxGrants: number = DEFAULT_MAX_GRANTS): z.ZodType<Manifest> {
  let schema = manifestSchemas.get(maxGrants)
  if (!schema) {
    schema = z
      .strictObject(
        {
          task: taskSchema,
          ttl: durationSchema.optional(),
          grants: authorizationDetailsSchema(maxGrants),
          // RFC 8707 resource indicators; each is checked by parseResourceIndicators.
          resources: z
            .array(z.string({ error: typeError('a string') }), { error: typeError('an array of URIs') })
            .min(1, { error: 'expected at least one URI, or leave the field out' })
            .optional(),
        },
        { error: typeError('an object with task, ttl and grants') },
      )
      .transform(({ task, ttl, grants, resources }): Manifest => {
        const manifest: Manifest = {
          task: task as TaskInfo,
          grants: grants as AuthorizationDetail[],
        }
        if (ttl !== undefined) manifest.ttlSeconds = ttl
        if (resources !== undefined) manifest.resources = resources
        return manifest
      })
    // Bounded: one schema per configured limit.
    if (manifestSchemas.size < 16) manifestSchemas.set(maxGrants, schema)
  }
  return schema
}
