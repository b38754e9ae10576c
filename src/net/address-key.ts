import { canonicalAddress } from './canonical-address.js'

/**
 * The key every per-address limiter counts a caller under (the pages' limiter, the budgets of
 * wrong admin tokens and of failed client logins): an IPv4 address as is (also when it arrives
 * IPv4-mapped, `::ffff:192.0.2.1`), an IPv6 address by its /64 (`2001:db8:1:2::/64`), since one
 * IPv6 host is handed at least a /64 and could otherwise draw a fresh budget per address. A value
 * that is not an IP address is its own key.
 */
export function addressKey(address: string): string {
  const canonical = canonicalAddress(address)
  if (!canonical) return address
  if (canonical.family === 'ipv4') return canonical.address
  const prefix = canonical.groups!.slice(0, 4).map((g) => g.toString(16)).join(':')
  return `${prefix}::/64`
}
