import type { WritError } from '../errors.js'
import { manifestSha256 } from '../manifest/manifest-hash.js'
import type { Manifest } from '../manifest/types.js'
import type { TokenDeniedEvent } from '../audit/types.js'

/** The `token.denied` event of an authenticated client's refused manifest. */
export function tokenDeniedEvent(
  clientId: string,
  manifest: Manifest,
  err: WritError,
): TokenDeniedEvent {
  let hash: string | undefined
  try {
    hash = manifestSha256(manifest)
  } catch {
    hash = undefined
  }
  return {
    type: 'token.denied',
    actor: `client:${clientId}`,
    client: clientId,
    task: manifest.task.id,
    ...(hash === undefined ? {} : { manifest_sha256: hash }),
    reason: err.code,
    message: err.message.slice(0, 1024),
  }
}
