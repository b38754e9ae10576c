import { createHash } from 'node:crypto'
import { canonicalize } from './canonicalize.js'
import type { Manifest } from './types.js'

/**
 * The manifest's `manifest_sha256`: lowercase hex SHA-256 over the RFC 8785 canonical JSON of
 *
 * ```
 * { "task": { "id", "purpose"?, "requested_by"? },
 *   "ttl_seconds"?: <requested TTL in seconds, when the manifest names one>,
 *   "grants": [ <each authorization details object, every member as given> ],
 *   "resources"?: [ <RFC 8707 resource indicators, when the request names any> ],
 *   "scopes"?: [ <policy scope names, when the request asked with scope> ] }
 * ```
 *
 * built from the normalized {@link Manifest}, so a manifest sent as YAML and the same manifest
 * sent as JSON (or with `ttl: 15m` instead of `ttl: 900`) hash the same. Optional members that are
 * absent are left out, never written as null, so a manifest without `resources` or `scopes`
 * hashes as it always did (old approval evidence re-verifies). Member order and whitespace never
 * matter; array order does.
 *
 * `grantsJson` is `canonicalize(manifest.grants)` when the caller has it already (issuance reuses
 * it for the `grant.issued` audit event); it is computed otherwise.
 *
 * @throws TypeError if the manifest holds something that is not JSON (parsed manifests never do).
 */
export function manifestSha256(
  manifest: Manifest,
  grantsJson: string = canonicalize(manifest.grants),
): string {
  const task: Record<string, string> = { id: manifest.task.id }
  if (manifest.task.purpose !== undefined) task.purpose = manifest.task.purpose
  if (manifest.task.requested_by !== undefined) task.requested_by = manifest.task.requested_by
  // The canonical JSON of { grants, resources?, scopes?, task, ttl_seconds? }, from canonical
  // parts in member order.
  let json = `{"grants":${grantsJson}`
  if (manifest.resources !== undefined) json += `,"resources":${canonicalize(manifest.resources)}`
  if (manifest.scopes !== undefined) json += `,"scopes":${canonicalize(manifest.scopes)}`
  json += `,"task":${canonicalize(task)}`
  if (manifest.ttlSeconds !== undefined) {
    json += `,"ttl_seconds":${canonicalize(manifest.ttlSeconds)}`
  }
  return createHash('sha256').update(`${json}}`, 'utf8').digest('hex')
}
