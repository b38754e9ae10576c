import { VerifierError } from '../verifier-error.js'

/**
 * Parses the text of a JSON-RPC body (one message or a batch).
 *
 * @throws VerifierError `invalid_request` (400) when it is not JSON.
 *
 * @example
 * ```ts
 * const body = parseJsonRpcText(await request.text())
 * ```
 */
export function parseJsonRpcText(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    const message = 'the request body must be JSON: a JSON-RPC message or batch'
    throw new VerifierError('invalid_request', message)
  }
}
