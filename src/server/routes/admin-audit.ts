import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { AuditLog } from '../../audit/audit-log.js'
import { auditStory } from '../../audit/audit-story.js'
import { AuditChainBrokenError, exportAudit } from '../../audit/export-audit.js'
import { findSeqAtTime } from '../../audit/find-seq-at-time.js'
import { invalidRequest, WritError } from '../../errors.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AppDeps } from '../deps.js'
import { readJsonObject } from '../json-body.js'

/** JSON Lines, as SIEMs ingest them. */
export const JSONL_MEDIA_TYPE = 'application/x-ndjson'

/** A seq: a whole number from 1, small enough to stay exact as a JavaScript number. */
const SEQ = /^[1-9][0-9]{0,14}$/
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/

const wholeNumber = (max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,16}$/, `expected a whole number from 1 to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))

const listSchema = z
  .object({
    since: z
      .string()
      .refine((v) => SEQ.test(v) || (RFC3339.test(v) && !Number.isNaN(Date.parse(v))), {
        message:
          'expected a seq (a whole number from 1) or an RFC 3339 time such as 2026-01-31T12:00:00Z',
      })
      .optional(),
    limit: wholeNumber(10_000).optional(),
    format: z.enum(['json', 'jsonl']).optional(),
    prev_seal: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, "expected the base64url SHA-256 of the previous page's seal")
      .optional(),
  })
  .strict()

const storySchema = z
  .object({
    grant: z.string().min(1).max(128).optional(),
    task: z.string().min(1).max(128).optional(),
  })
  .strict()

const trimSchema = z
  .object({
    before_seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    exported_to: z.string().trim().min(1).max(512),
  })
  .strict()

/** The query as one value per name; a repeated parameter is refused. */
function singleQuery(c: Context): Record<string, string> {
  const query: Record<string, string> = {}
  for (const [name, values] of Object.entries(c.req.queries())) {
    // Ensure no parameter is repeated: a second value could slip past the first one's check.
    if (values.length > 1) throw invalidRequest(`${name}: must not be repeated`)
    query[name] = values[0]!
  }
  return query
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value, { error: friendlyErrors })
  if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))
  return parsed.data
}

/** The audit log, or 404 when auditing is off. */
function logOf(deps: AppDeps): AuditLog {
  const log = deps.audit.log
  if (!log) {
    throw new WritError('not_found', 404, 'auditing is off on this broker (audit.enabled: false)')
  }
  return log
}

/**
 * `GET /admin/audit?since=&limit=&format=`: events in seq order from `since` (a seq, or the first
 * event at or after an RFC 3339 time), at most `limit` (default 1000, at most 10,000).
 * `format=json` (default) answers `{events, seal, next_since, more, head}`; `format=jsonl` (or
 * `Accept: application/x-ndjson`) answers JSON Lines, one event per line and the export seal last,
 * and is recorded as an export (`audit.exported`), which `POST /admin/audit/trim` requires.
 * `prev_seal` (the digest of the previous page's seal) chains a page to the one before it.
 * A page that does not verify against the broker's keys is never sealed: 500, an `error` log line
 * and an `audit.seal_refused` event.
 */
function listRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const query = parse(listSchema, singleQuery(c))
    const log = logOf(deps)
    const accepts = (c.req.header('accept') ?? '').includes(JSONL_MEDIA_TYPE)
    const jsonl = query.format === 'jsonl' || (query.format === undefined && accepts)
    const since = query.since
    const fromSeq =
      since === undefined
        ? 1
        : SEQ.test(since)
          ? Number(since)
          : await findSeqAtTime(log, Date.parse(since))
    const requestId = String(c.get('requestId') ?? 'unknown')
    let exported: Awaited<ReturnType<typeof exportAudit>>
    try {
      exported = await exportAudit(log, {
        signer: deps.keys,
        issuer: deps.config.issuer,
        clock: deps.clock,
        fromSeq,
        fromStart: since === undefined,
        ...(query.prev_seal === undefined ? {} : { prevSeal: query.prev_seal }),
        limit: query.limit ?? 1000,
        ...(jsonl ? { destination: `GET /admin/audit (request ${requestId})` } : {}),
      })
    } catch (err) {
      if (err instanceof AuditChainBrokenError) {
        // Ensure a rewritten log raises the alarm: it is never sealed, and someone is told.
        deps.logger.error('audit log does not verify: export refused, the store may have been tampered with', {
          from_seq: fromSeq,
          line: err.problem.line,
          seq: err.problem.seq,
          reason: err.problem.reason,
          request_id: requestId,
        })
        await deps.audit.note({
          type: 'audit.seal_refused',
          actor: 'system',
          from_seq: fromSeq,
          ...(err.problem.seq === undefined ? {} : { seq: err.problem.seq }),
          reason: err.problem.reason,
        })
      }
      throw err
    }
    const headers = {
      'Cache-Control': 'no-store',
      'X-Audit-Next-Since': String(exported.nextSeq),
      'X-Audit-More': String(exported.more),
    }
    if (jsonl) {
      const lines = exported.events.map((e) => JSON.stringify(e))
      if (exported.seal) lines.push(JSON.stringify(exported.seal))
      const text = lines.length ? lines.join('\n') + '\n' : ''
      return c.body(text, 200, { ...headers, 'Content-Type': JSONL_MEDIA_TYPE })
    }
    const head = await log.head()
    return c.json(
      {
        events: exported.events,
        seal: exported.seal?.seal ?? null,
        next_since: exported.nextSeq,
        more: exported.more,
        head: { seq: head.seq, hash: head.hash },
      },
      200,
      headers,
    )
  }
}

/**
 * `GET /admin/audit/story?grant=|task=`: the story of one grant or task in log order (see
 * `auditStory`): request and decision, approvals with each approver's key, credentials vended,
 * revocation.
 */
function storyRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const query = parse(storySchema, singleQuery(c))
    // Ensure the request names exactly one subject.
    if ((query.grant === undefined) === (query.task === undefined)) {
      throw invalidRequest('exactly one of grant, task is required')
    }
    const events = await auditStory(
      logOf(deps),
      query.grant !== undefined ? { grantId: query.grant } : { taskId: query.task! },
    )
    return c.json({ events }, 200, { 'Cache-Control': 'no-store' })
  }
}

/**
 * `POST /admin/audit/trim` `{before_seq, exported_to}`: removes the events before `before_seq`,
 * only when a JSON Lines export covered every one of them; records `audit.trimmed` first.
 */
function trimRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const value = await readJsonObject(c, deps.config.limits.bodyBytes)
    const body = parse(trimSchema, value)
    const trimmed = await logOf(deps).trim(body.before_seq, {
      exportedTo: body.exported_to,
      actor: 'admin',
    })
    return c.json({ trimmed }, 200, { 'Cache-Control': 'no-store' })
  }
}

/**
 * The audit admin API, mounted at `/admin/audit` inside the admin routes, whose middleware checks
 * the admin bearer token before any of these run.
 */
export function adminAuditRoutes(deps: AppDeps): Hono {
  const app = new Hono()
  app.get('/', listRoute(deps))
  app.get('/story', storyRoute(deps))
  app.post('/trim', trimRoute(deps))
  return app
}
