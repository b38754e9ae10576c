import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { ConfigError } from '../config.js'
import { algorithmOf, type KeySlot } from './key-set.js'

/** Paths of the key files, one per slot; only `current` is required. */
export interface KeyFiles {
  current: string
  next?: string
  previous?: string
}

/** Reads a file as UTF-8 text; injectable so tests and other runtimes need no real files. */
export type ReadTextFile = (path: string) => Promise<string>

function parseKey(slot: KeySlot, text: string): KeyObject {
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) {
    const jwk = JSON.parse(trimmed) as JsonWebKey & { alg?: unknown; keys?: unknown }
    // Ensure a single JWK, not a JWK Set: one file names one key.
    if (jwk.keys !== undefined) throw new Error('expected one JWK, found a JWK Set')
    const key =
      jwk.d === undefined
        ? createPublicKey({ key: jwk, format: 'jwk' })
        : createPrivateKey({ key: jwk, format: 'jwk' })
    const alg = algorithmOf(key)
    // Ensure a JWK that names its algorithm names the one its key type signs with.
    if (typeof alg === 'string' && jwk.alg !== undefined && jwk.alg !== alg) {
      throw new Error(`the JWK says alg ${String(jwk.alg)} but its key signs ${alg}`)
    }
    return key
  }
  if (trimmed.startsWith('-----BEGIN')) {
    return /-----BEGIN PUBLIC KEY-----/.test(trimmed)
      ? createPublicKey({ key: trimmed, format: 'pem' })
      : createPrivateKey({ key: trimmed, format: 'pem' })
  }
  throw new Error(`expected a PEM (PKCS#8) or JWK JSON ${slot} key`)
}

/**
 * Reads the configured key files (PEM PKCS#8 or JWK JSON). `current` must hold a private key;
 * `next` and `previous` may hold public keys only, since they are only published. Every problem
 * is reported at once in a ConfigError naming the file.
 */
export async function readKeyFiles(
  files: KeyFiles,
  readFile: ReadTextFile,
): Promise<{ current: KeyObject; next?: KeyObject; previous?: KeyObject }> {
  const problems: string[] = []
  const out: Partial<Record<KeySlot, KeyObject>> = {}
  for (const slot of ['current', 'next', 'previous'] as const) {
    const path = files[slot]
    if (path === undefined) continue
    try {
      const key = parseKey(slot, await readFile(path))
      const alg = algorithmOf(key)
      // Ensure the key can sign a writ token (P-256 or Ed25519).
      if (typeof alg !== 'string') throw new Error(`unsupported ${alg.unsupported}`)
      // Ensure the current key can sign: it needs its private half.
      if (slot === 'current' && key.type !== 'private') {
        throw new Error('the current key must be a private key')
      }
      out[slot] = key
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n')[0] : String(err)
      problems.push(`keys.files.${slot} (${path}): ${reason}`)
    }
  }
  if (problems.length > 0 || !out.current) throw new ConfigError(problems)
  return {
    current: out.current,
    ...(out.next ? { next: out.next } : {}),
    ...(out.previous ? { previous: out.previous } : {}),
  }
}
