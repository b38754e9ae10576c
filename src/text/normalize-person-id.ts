import { domainToASCII } from 'node:url'
import { unsafeCharacter } from './unsafe-character.js'

/** The dot-atom characters of an address's local part (RFC 5322 §3.2.3), ASCII only. */
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/
/** One LDH label of an ASCII (or punycode) domain name. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
/** A name that is not an address: letters, digits and `. _ - + :` (policy ids like `alice`). */
const PLAIN_NAME = /^[a-z0-9]([a-z0-9._+:-]*[a-z0-9])?$/
/** What only a display name or a list of people has: `Carol <carol@x>`, `"Carol" carol@x`, `a, b`. */
const DISPLAY_FORM = /[<>"(),;\s[\]\\]/

/** A person's id in its one normal form, or why it has none. */
export type PersonIdResult = { id: string } | { problem: string }

/**
 * The one normal form of a person's id, used wherever people are compared: approver group members
 * (normalised when the policy loads), a manifest's `task.requested_by`, enrolment invites, approver
 * filters and `revoke --approver`. So `forbid_self_approval` compares people, not spellings:
 * `Carol@Example.com.` and `carol@example.com` are the same person.
 *
 * Steps: trim, refuse control, invisible and bidi characters, Unicode NFKC, case fold, strip one
 * trailing dot; then an address (`local@domain`: an ASCII dot-atom local part, a domain whose
 * labels are LDH after IDNA, kept as punycode so no confusable survives) or, unless `address` is
 * required, a plain name (`alice`). Display-name forms (`Carol <carol@example.com>`) are refused.
 *
 * @example
 * ```ts
 * normalizePersonId('Carol@Example.com.', { address: true }) // { id: 'carol@example.com' }
 * normalizePersonId('Carol <carol@example.com>')             // { problem: 'expected a bare ...' }
 * normalizePersonId('alice')                                 // { id: 'alice' }
 * ```
 */
export function normalizePersonId(value: string, options: { address?: boolean } = {}): PersonIdResult {
  const trimmed = value.trim()
  const hidden = unsafeCharacter(trimmed)
  if (hidden !== undefined) return { problem: hidden }
  // NFKC, then a full case fold (upper then lower folds ß to ss; ς is σ), then NFKC again.
  let id = trimmed.normalize('NFKC').toUpperCase().toLowerCase().replace(/ς/g, 'σ').normalize('NFKC')
  if (id.endsWith('.')) id = id.slice(0, -1)
  if (DISPLAY_FORM.test(id)) {
    return { problem: 'expected a bare address like carol@example.com, not a display name or a list' }
  }
  const at = id.lastIndexOf('@')
  if (at < 0) {
    if (options.address) return { problem: 'expected an address like carol@example.com' }
    if (!PLAIN_NAME.test(id)) {
      return { problem: 'expected an address like carol@example.com, or a name of letters, digits and . _ - + :' }
    }
    return { id }
  }
  const local = id.slice(0, at)
  const domain = id.slice(at + 1)
  // Ensure one address, with a local part nobody can spell two ways.
  if (local.length === 0 || local.length > 64 || !LOCAL_PART.test(local)) {
    return { problem: 'expected an address like carol@example.com (its local part in ASCII)' }
  }
  const ascii = domain === '' ? '' : domainToASCII(domain)
  if (ascii === '' || ascii.length > 253 || !ascii.split('.').every((label) => LABEL.test(label))) {
    return { problem: 'expected an address like carol@example.com (its domain is not a valid name)' }
  }
  return { id: `${local}@${ascii}` }
}
