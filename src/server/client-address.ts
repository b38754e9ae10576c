import type { Context } from 'hono'

/**
 * The address a request came from: the first entry of `header` when one is configured and the
 * request carries it (`limits.clientIpHeader`, set by a reverse proxy that always overwrites it),
 * else the TCP peer of the Node server. Undefined only for a request that never crossed a socket
 * (an in-process `app.request`).
 */
export function clientAddress(c: Context, header: string | undefined): string | undefined {
  if (header) {
    const forwarded = c.req.header(header)?.split(',')[0]?.trim()
    if (forwarded) return forwarded
  }
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined
  return env?.incoming?.socket?.remoteAddress
}
