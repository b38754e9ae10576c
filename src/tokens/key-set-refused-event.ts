import type { UntrustedKeySetAlarm } from './key-manager.js'
import type { KeySetRefusedEvent } from '../audit/types.js'

/** The `key.set_refused` alarm event of a stored key set that did not authenticate. */
export function keySetRefusedEvent(alarm: UntrustedKeySetAlarm): KeySetRefusedEvent {
  const event: KeySetRefusedEvent = {
    type: 'key.set_refused',
    actor: 'system',
    reason: alarm.reason,
    version: alarm.version,
  }
  if (alarm.keptKid !== undefined) event.kept_kid = alarm.keptKid
  return event
}
