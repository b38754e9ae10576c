import type { Context } from 'hono'
import { z } from 'zod'
import { keyRotatedEvent } from '../../audit/key-rotated-event.js'
import { invalidRequest } from '../../errors.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AppDeps } from '../deps.js'
import { readJsonObject } from '../json-body.js'

/** Public facts about the signing keys; never key material. */
function keyList(deps: AppDeps) {
  return {
    keys: deps.keys.list().map(({ kid, alg, slot, createdAt, activatedAt, retiredAt, publishedUntil }) => ({
      kid,
      alg,
      slot,
      createdAt,
      ...(activatedAt !== undefined ? { activatedAt } : {}),
      ...(retiredAt !== undefined ? { retiredAt } : {}),
      ...(publishedUntil !== undefined ? { publishedUntil } : {}),
    })),
  }
}

/** `GET /admin/keys`: next, current and previous signing keys. */
export function adminListKeysRoute(deps: AppDeps) {
  return (c: Context): Response => c.json(keyList(deps), 200, { 'Cache-Control': 'no-store' })
}

const rotateSchema = z.object({ force: z.boolean().optional() }).strict()

/**
 * `POST /admin/keys/rotate` `{ force? }`: next becomes current, current becomes previous (still
 * published until its tokens expire), a new next is generated. Without `force`, refused while the
 * previous key still covers live tokens. Replicas pick the rotation up on their next key refresh.
 * The rotation is audited as `key.rotated` (unless another replica's rotation won the race, which
 * that replica audits).
 */
export function adminRotateKeysRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const value = await readJsonObject(c, deps.config.limits.bodyBytes, { optional: true })
    const parsed = rotateSchema.safeParse(value, { error: friendlyErrors })
    if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))
    const force = parsed.data.force ?? false
    const rotation = await deps.keys.rotate({ force })
    if (rotation) await deps.audit.note(keyRotatedEvent('admin', rotation))
    deps.logger.info('signing keys rotated', { force, current: deps.keys.signingKey().kid })
    return c.json(keyList(deps), 200, { 'Cache-Control': 'no-store' })
  }
}
