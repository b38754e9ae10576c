import { createHash, randomBytes } from 'node:crypto'

/** A new session token: 256 random bits, base64url (43 characters). */
export const newSessionToken = (): string => randomBytes(32).toString('base64url')

/** What the store keeps of a session token: its SHA-256, hex. The token itself is never stored. */
export const sessionTokenSha256 = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex')

/** Whether `value` has a session token's shape (anything else is not looked up). */
export const isSessionToken = (value: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(value)
