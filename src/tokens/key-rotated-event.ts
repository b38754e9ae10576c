import type { KeyRotation } from './key-manager.js'
import { KEY_TYP, signJwsWith } from '../audit/sign-audit-jws.js'
import type { AuditActor, KeyRotatedEvent } from '../audit/types.js'

/**
 * The `key.rotated` event of a rotation: the key that became current (with its public JWK), the
 * one it retired, whether it was forced, and for a compromised-key rotation the kids it withdrew
 * from the JWKS. When the rotation carries both keys it also carries two signed statements over
 * `{kid, previous_kid, compromised}` (JWS `typ` writ-audit-key+jwt): `announcement`, by the new
 * key (it names its predecessor: an auditor who trusts the new key may trust the old one's
 * checkpoints), and `handover`, by the old key (it names its successor: an auditor who trusts the
 * old key may trust the new one's). A rotation for a compromised key carries no handover: whoever
 * stole the old key could sign one too, so the new key is trusted only when the auditor holds it
 * (its JWKS), and its announcement does not vouch for the old key.
 */
export function keyRotatedEvent(actor: AuditActor, rotation: KeyRotation): KeyRotatedEvent {
  const compromised = rotation.compromised === true
  const event: KeyRotatedEvent = {
    type: 'key.rotated',
    actor,
    kid: rotation.kid,
    previous_kid: rotation.previousKid,
    forced: rotation.forced,
  }
  if (compromised) {
    event.compromised = true
    event.withdrawn_kids = rotation.withdrawnKids
  }
  if (!rotation.keys) return event
  const statement = { kid: rotation.kid, previous_kid: rotation.previousKid, compromised }
  event.jwk = rotation.keys.currentJwk
  event.announcement = signJwsWith(rotation.keys.current, KEY_TYP, statement)
  if (!compromised) event.handover = signJwsWith(rotation.keys.previous, KEY_TYP, statement)
  return event
}
