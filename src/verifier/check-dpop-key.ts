import { VerifierError } from './verifier-error.js'

/** Smallest RSA modulus accepted for a DPoP proof key, in bits. */
export const MIN_DPOP_RSA_MODULUS_BITS = 2048
/**
 * Largest RSA modulus accepted for a DPoP proof key, in bits: a signature check costs about the
 * square of the size, so larger keys only cost the server CPU.
 */
export const MAX_DPOP_RSA_MODULUS_BITS = 4096
/** The only RSA public exponent accepted: 65537, base64url `AQAB`. */
const RSA_EXPONENT_65537 = 'AQAB'

const BASE64URL = /^[A-Za-z0-9_-]+$/

/** Bit length of a big-endian unsigned integer (leading zero bytes ignored). */
function bitLength(bytes: Buffer): number {
  let start = 0
  while (start < bytes.length && bytes[start] === 0) start++
  if (start === bytes.length) return 0
  return (bytes.length - start - 1) * 8 + (32 - Math.clz32(bytes[start]!))
}

/**
 * Checks the public key embedded in a DPoP proof before anything verifies a signature with it:
 * an RSA key must have the public exponent 65537 and a modulus of 2048 to 4096 bits. A larger
 * exponent or modulus makes every signature check cost more (a huge exponent costs about 50 times
 * an ES256 check) without adding security; refusing them keeps a proof's cost bounded. Other key
 * types are left to the algorithm allow-list and the JOSE library.
 *
 * Shared by the verifier and the broker's token endpoints (through `verifyDpopProof`), so both
 * accept exactly the same keys.
 *
 * @throws VerifierError `invalid_dpop_proof` naming the rule the key breaks.
 *
 * @example
 * ```ts
 * checkDpopKey(header.jwk) // throws for { kty: 'RSA', e: 'AQAAAQ', n: … }
 * ```
 */
export function checkDpopKey(jwk: Record<string, unknown>): void {
  if (jwk.kty !== 'RSA') return
  const { e, n } = jwk
  // Ensure the exponent is 65537: any other exponent is unusual, and a large one is costly.
  if (e !== RSA_EXPONENT_65537) {
    throw new VerifierError(
      'invalid_dpop_proof',
      'the DPoP proof jwk must be an RSA key with public exponent 65537 (e "AQAB")',
    )
  }
  // Ensure the modulus is 2048 to 4096 bits: smaller is weak, larger only costs the server CPU.
  const bits = typeof n === 'string' && BASE64URL.test(n) ? bitLength(Buffer.from(n, 'base64url')) : 0
  if (bits < MIN_DPOP_RSA_MODULUS_BITS || bits > MAX_DPOP_RSA_MODULUS_BITS) {
    throw new VerifierError(
      'invalid_dpop_proof',
      `the DPoP proof jwk must be an RSA key with a ${MIN_DPOP_RSA_MODULUS_BITS} to ` +
        `${MAX_DPOP_RSA_MODULUS_BITS} bit modulus (n)`,
    )
  }
}
