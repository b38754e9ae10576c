import type { Context } from 'hono'
import { invalidRequest, WritError } from '../errors.js'

const tooLarge = (maxBytes: number): WritError =>
  new WritError('invalid_request', 413, `request body exceeds the ${maxBytes}-byte limit`)

/**
 * Reads the request body as UTF-8 text, never holding more than `maxBytes` of it.
 *
 * Ensure an oversized body is refused before it is read: a declared Content-Length above the limit
 * answers 413 at once; a body without one (chunked) is counted as it streams and cut off at the
 * limit. A declared length within the limit is read in one go (the HTTP parser holds the sender
 * to the length it declared), which keeps the hot path free of stream machinery.
 */
export async function readBody(c: Context, maxBytes: number): Promise<string> {
  const declared = c.req.header('content-length')
  if (declared !== undefined) {
    if (!/^\d+$/.test(declared)) throw invalidRequest('content-length: not a number')
    if (Number(declared) > maxBytes) throw tooLarge(maxBytes)
    try {
      return await c.req.text()
    } catch {
      throw invalidRequest('could not read the request body')
    }
  }
  const stream = c.req.raw.body
  if (!stream) return ''
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const next = await reader.read().catch(() => {
      throw invalidRequest('could not read the request body')
    })
    if (next.done) break
    size += next.value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw tooLarge(maxBytes)
    }
    chunks.push(next.value)
  }
  return Buffer.concat(chunks, size).toString('utf8')
}
