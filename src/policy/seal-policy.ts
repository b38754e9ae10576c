import { createHmac, hkdfSync, type KeyObject, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'

const FORMAT = 'writ.policy.v1'
/** HKDF `info` of the stored-policy MAC key: a key derived from the KEK for this purpose only. */
const MAC_KEY_INFO = 'writ policy mac v1'
const MAC_BYTES = 32

/** What a stored policy's MAC covers. */
export interface SealedPolicyBody {
  /** The broker's issuer: a policy sealed for another deployment sharing the KEK is refused. */
  issuer: string
  /** Counts applies: each one is one more than the policy it replaces. */
  generation: number
  /** The policy text (YAML), exactly as applied. */
  text: string
}

const envelopeSchema = z
  .object({ format: z.literal(FORMAT), body: z.string().min(1), mac: z.string().regex(/^[A-Za-z0-9_-]+$/) })
  .strict()
const bodySchema = z
  .object({ issuer: z.string().min(1), generation: z.number().int().positive(), text: z.string() })
  .strict()

/** A stored policy that does not authenticate under the KEK; nothing in it is used. */
export class UntrustedPolicyError extends Error {
  override name = 'UntrustedPolicyError'
}

function macOf(kek: KeyObject, body: string): Buffer {
  const key = Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), MAC_KEY_INFO, MAC_BYTES))
  return createHmac('sha256', key).update(`${FORMAT}\n`).update(body).digest()
}

/** The stored form of a policy: its body and an HMAC-SHA256 of it under a key derived from the KEK. */
export function sealPolicy(kek: KeyObject, body: SealedPolicyBody): string {
  const text = JSON.stringify({ issuer: body.issuer, generation: body.generation, text: body.text })
  return JSON.stringify({ format: FORMAT, body: text, mac: macOf(kek, text).toString('base64url') })
}

/**
 * Opens a stored policy: its MAC must verify under the KEK and it must be sealed for `issuer`.
 * @throws UntrustedPolicyError naming why it is refused.
 */
export function openPolicy(kek: KeyObject, issuer: string, data: string): SealedPolicyBody {
  let envelope: z.infer<typeof envelopeSchema>
  try {
    envelope = envelopeSchema.parse(JSON.parse(data))
  } catch {
    throw new UntrustedPolicyError('the stored policy is not a sealed policy')
  }
  const mac = Buffer.from(envelope.mac, 'base64url')
  const expected = macOf(kek, envelope.body)
  // Ensure only a policy sealed under this KEK is used: someone who can write to the store cannot
  // put a policy in force.
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
    throw new UntrustedPolicyError('the stored policy does not authenticate under the KEK')
  }
  const body = bodySchema.parse(JSON.parse(envelope.body))
  // Ensure a policy sealed for another deployment sharing this KEK is not used here.
  if (body.issuer !== issuer) {
    throw new UntrustedPolicyError(`the stored policy was sealed for another issuer (${body.issuer})`)
  }
  return body
}
