import type { KeyRotation } from '../tokens/key-manager.js'
import type { AuditActor, KeyRotatedEvent } from './types.js'

/**
 * The `key.rotated` event of a rotation: the key that became current, the one it retired,
 * whether it was forced (allowed to unpublish a key whose tokens were still alive), and for a
 * compromised-key rotation the kids it withdrew from the JWKS.
 */
export function keyRotatedEvent(actor: AuditActor, rotation: KeyRotation): KeyRotatedEvent {
  const event: KeyRotatedEvent = {
    type: 'key.rotated',
    actor,
    kid: rotation.kid,
    previous_kid: rotation.previousKid,
    forced: rotation.forced,
  }
  if (rotation.compromised) {
    event.compromised = true
    event.withdrawn_kids = rotation.withdrawnKids
  }
  return event
}
