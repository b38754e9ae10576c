import type { Context } from 'hono'
import { z } from 'zod'
import { grantRevokedEvent } from '../../grants/grant-revoked-event.js'
import { keyRotatedEvent } from '../../tokens/key-rotated-event.js'
import { epochSeconds } from '../../clock.js'
import { invalidRequest } from '../../errors.js'
import { revokeGrants } from '../../grants/index.js'
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

const rotateSchema = z
  .object({
    compromised: z.boolean().optional(),
    reason: z.string().trim().min(1).max(512).optional(),
    force: z.boolean().optional(),
  })
  .strict()

/** The tombstone reason of grants a compromised-key rotation revokes, unless one is given. */
const COMPROMISED_REASON = 'signing keys rotated as compromised'

/**
 * `POST /admin/keys/rotate` `{ compromised?, reason? }`.
 *
 * Without `compromised`: next becomes current, current becomes previous (still published until
 * its tokens expire), a new next is generated; refused while the previous key still covers live
 * tokens. Replicas pick the rotation up at once (it is announced on the revocation channel).
 *
 * With `compromised: true` (the keys may be known to someone else): a fresh current and next key
 * replace every key, every earlier kid leaves the JWKS at once (announced, so verifiers subscribed
 * to the channel refuse them at once), and every live grant is revoked through the same path as
 * `POST /admin/revocations {all: true}` (with `reason`). Answers the keys, `revoked` and
 * `withdrawn_kids`.
 *
 * Audited as `key.rotated` (unless another replica's rotation won the race, which that replica
 * audits), and for a compromised rotation `grant.revoked` too.
 */
export function adminRotateKeysRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const value = await readJsonObject(c, deps.config.limits.bodyBytes, { optional: true })
    const parsed = rotateSchema.safeParse(value, { error: friendlyErrors })
    if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))
    const { compromised = false, reason, force } = parsed.data
    // Ensure nobody recovers from a leaked key by promoting the next key, sealed with the same KEK.
    if (force !== undefined) {
      throw invalidRequest(
        'force: no longer accepted; for signing keys that may have leaked, rotate with ' +
          '"compromised": true (fresh keys, every earlier key withdrawn, every grant revoked)',
      )
    }
    if (reason !== undefined && !compromised) {
      throw invalidRequest(
        'reason: only with "compromised": true (it is kept in each revoked grant)',
      )
    }
    if (!compromised) {
      const rotation = await deps.keys.rotate()
      if (rotation) await deps.audit.note(keyRotatedEvent('admin', rotation))
      deps.logger.info('signing keys rotated', { current: deps.keys.signingKey().kid })
      return c.json(keyList(deps), 200, { 'Cache-Control': 'no-store' })
    }

    const rotation = await deps.keys.rotate({ compromised: true })
    if (rotation) await deps.audit.note(keyRotatedEvent('admin', rotation))
    const withdrawn = rotation?.withdrawnKids ?? []
    // Ensure no grant issued under the leaked keys stays live (the same path as revoke --all).
    const why = reason ?? COMPROMISED_REASON
    const target = { all: true } as const
    const at = epochSeconds(deps.clock)
    const revoked = await revokeGrants(deps, target, { by: 'admin', reason: why, at })
    await deps.audit.note(grantRevokedEvent('admin', target, why, revoked))
    const what = 'signing keys rotated as compromised; every earlier key withdrawn, every grant revoked'
    deps.logger.warn(what, {
      current: deps.keys.signingKey().kid,
      withdrawn,
      revoked,
    })
    return c.json({ ...keyList(deps), revoked, withdrawn_kids: withdrawn }, 200, {
      'Cache-Control': 'no-store',
    })
  }
}
