import { createHash } from 'node:crypto'

/**
 * The hash a policy is known by: hex SHA-256 of its text exactly as loaded (UTF-8 bytes), so
 * `sha256sum policy.yaml` gives the same value. Two texts that differ only in comments or layout
 * have different hashes.
 */
export function policyHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}
