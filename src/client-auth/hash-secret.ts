import { randomBytes } from 'node:crypto'
import { hash, verify, type Algorithm } from '@node-rs/argon2'

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. */
const ARGON2ID = {
  algorithm: 2 satisfies Algorithm.Argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const

/**
 * A hash of a random secret nobody knows, with the same parameters as real ones: verifying
 * against it costs what a real verification costs, so an unknown client takes as long as a known
 * one with a wrong secret.
 */
export const DUMMY_SECRET_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$mPUyG7j+i6Hm7hhoK4B5fQ' +
  '$vuwOWOvWqVzcIJGjg53JjjiP50hKx3N7VnsQRU94/ro'

/**
 * Hashes a client secret for the policy file: argon2id, m=19456 KiB, t=2, p=1, random salt,
 * PHC string format.
 */
export function hashSecret(secret: string): Promise<string> {
  return hash(secret, ARGON2ID)
}

/**
 * Checks a secret against a PHC argon2 hash. The parameters come from the hash itself. Throws
 * when the hash is malformed.
 */
export function verifySecret(secretHash: string, secret: string): Promise<boolean> {
  return verify(secretHash, secret)
}

/** A new client secret: 32 random bytes, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url')
}
