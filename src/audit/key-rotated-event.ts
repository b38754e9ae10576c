import type { KeyRotation } from '../tokens/key-manager.js'
import type { AuditActor, KeyRotatedEvent } from './types.js'

/**
 * The `key.rotated` event of a rotation: the key that became current, the one it retired, and
 * whether it was forced (allowed to unpublish a key whose tokens were still alive).
 */
export function keyRotatedEvent(actor: AuditActor, rotation: KeyRotation): KeyRotatedEvent {
  return {
    type: 'key.rotated',
    actor,
    kid: rotation.kid,
    previous_kid: rotation.previousKid,
    forced: rotation.forced,
  }
}
