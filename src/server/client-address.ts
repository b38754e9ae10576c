import { BlockList } from 'node:net'
import type { Context } from 'hono'
import type { Config } from '../config.js'
import { addressKey } from '../net/address-key.js'
import { canonicalAddress, type CanonicalAddress } from '../net/canonical-address.js'
import { parseCidr } from '../net/parse-cidr.js'

/** The settings that say where a request came from. */
export type ClientAddressConfig = Pick<Config['limits'], 'clientIpHeader' | 'trustedProxies'>

/** The trusted proxies of each (parsed, immutable) config, matched by `BlockList`. */
const proxyLists = new WeakMap<readonly string[], BlockList>()

function proxyList(trustedProxies: readonly string[]): BlockList {
  let list = proxyLists.get(trustedProxies)
  if (!list) {
    list = new BlockList()
    for (const entry of trustedProxies) {
      const cidr = parseCidr(entry)
      if (cidr) list.addSubnet(cidr.address, cidr.prefix, cidr.family)
    }
    proxyLists.set(trustedProxies, list)
  }
  return list
}

/**
 * The caller's address in the header's value (`203.0.113.9`, or a list like X-Forwarded-For's
 * `client, proxy1, proxy2`): the right-most entry that is not a trusted proxy, since each proxy
 * appends the address it heard from on the right and everything left of that is the caller's own
 * say. Undefined when that entry is not an IP address.
 */
function fromHeader(value: string, proxies: BlockList): CanonicalAddress | undefined {
  const entries = value.split(',')
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = canonicalAddress(entries[i]!)
    if (!entry) return undefined
    if (i === 0 || !proxies.check(entry.address, entry.family)) return entry
  }
  return undefined
}

/**
 * The per-address budget key (`addressKey`: IPv4, or an IPv6 /64) of the address a request came
 * from. That is the TCP peer of the Node server, unless the peer is one of
 * `limits.trustedProxies` and the request carries `limits.clientIpHeader`: then the address the
 * header names (see `fromHeader`). A header from any other peer is ignored, so a host that reaches
 * the broker directly can neither spend another address's budget nor draw a fresh one per request.
 * Undefined only for a request that never crossed a socket (an in-process `app.request`).
 */
export function clientAddress(c: Context, limits: ClientAddressConfig): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined
  const remote = env?.incoming?.socket?.remoteAddress
  if (remote === undefined) return undefined
  const peer = canonicalAddress(remote)
  if (peer && limits.clientIpHeader && limits.trustedProxies.length > 0) {
    const proxies = proxyList(limits.trustedProxies)
    // Ensure the header is believed only from a proxy the operator named.
    if (proxies.check(peer.address, peer.family)) {
      const value = c.req.header(limits.clientIpHeader)
      const forwarded = value === undefined ? undefined : fromHeader(value, proxies)
      if (forwarded) return addressKey(forwarded.address)
    }
  }
  return addressKey(peer?.address ?? remote)
}
