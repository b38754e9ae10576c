import { randomFillSync } from 'node:crypto'

const POOL_BYTES = 4096
const pool = Buffer.allocUnsafe(POOL_BYTES)
let offset = POOL_BYTES

/**
 * A 128-bit random identifier, base64url (22 characters). Draws from the CSPRNG in 4 KiB batches:
 * one system call per 256 ids instead of one per id, on the issuance hot path. Each byte of the
 * pool is handed out once. Never starts with `-`, so ids are safe as command-line arguments.
 */
export function randomId(): string {
  for (;;) {
    if (offset + 16 > POOL_BYTES) {
      randomFillSync(pool)
      offset = 0
    }
    const id = pool.toString('base64url', offset, offset + 16)
    // Ensure the bytes handed out cannot be handed out again or read back later.
    pool.fill(0, offset, offset + 16)
    offset += 16
    // An id that starts with '-' reads as an option on a command line (`writ revoke -x...`):
    // draw again (rejection sampling keeps the remaining ids uniform).
    if (id.charCodeAt(0) !== 0x2d) return id
  }
}
