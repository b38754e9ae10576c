import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import { z } from 'zod'
import { invalidRequest } from '../../errors.js'
import { formatIssues, friendlyErrors } from '../../validation.js'

const B64URL = /^[A-Za-z0-9_-]*$/

const b64url = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(B64URL, { error: 'expected base64url' })

const common = {
  id: b64url(1366),
  rawId: b64url(1366),
  type: z.literal('public-key'),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
}

/** A `PublicKeyCredential` from `navigator.credentials.create()`, JSON-encoded (WebAuthn L3). */
const registrationSchema = z.looseObject({
  ...common,
  response: z.looseObject({
    clientDataJSON: b64url(8192),
    attestationObject: b64url(32768),
    transports: z.array(z.string().max(32)).max(10).optional(),
  }),
})

/** A `PublicKeyCredential` from `navigator.credentials.get()`, JSON-encoded (WebAuthn L3). */
const authenticationSchema = z.looseObject({
  ...common,
  response: z.looseObject({
    clientDataJSON: b64url(8192),
    authenticatorData: b64url(4096),
    signature: b64url(2048),
    userHandle: z.string().max(128).regex(B64URL, { error: 'expected base64url' }).optional(),
  }),
})

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value, { error: friendlyErrors })
  if (!result.success) throw invalidRequest(formatIssues(result.error.issues).join('; '))
  return result.data
}

/**
 * Validates the JSON a browser posts after a WebAuthn ceremony, naming the field at fault:
 * `response.signature: expected base64url`. Cryptographic checks come later; this only makes sure
 * the shape is right and every binary member is base64url of bounded size.
 *
 * @throws WritError `invalid_request` (400).
 */
export const webauthnJson = {
  registration: (value: unknown): RegistrationResponseJSON =>
    parse(registrationSchema, value) as RegistrationResponseJSON,
  authentication: (value: unknown): AuthenticationResponseJSON =>
    parse(authenticationSchema, value) as AuthenticationResponseJSON,
}
