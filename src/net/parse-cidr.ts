import { canonicalAddress, type CanonicalAddress } from './canonical-address.js'

/** A network: an address and how many leading bits of it count. */
export interface Cidr extends CanonicalAddress {
  prefix: number
}

/**
 * Parses an IP address (`10.0.0.7`, `fd00::7`: a single address) or a CIDR (`10.0.0.0/8`,
 * `fd00::/8`); undefined when it is neither. An IPv4-mapped address counts as IPv4 and is
 * accepted only without a prefix (write the IPv4 CIDR instead).
 */
export function parseCidr(text: string): Cidr | undefined {
  const match = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(text.trim())
  if (!match) return undefined
  const canonical = canonicalAddress(match[1]!)
  if (!canonical) return undefined
  const max = canonical.family === 'ipv4' ? 32 : 128
  if (match[2] === undefined) return { ...canonical, prefix: max }
  if (canonical.family === 'ipv4' && !/^[\d.]+$/.test(match[1]!)) return undefined
  const prefix = Number(match[2])
  return prefix <= max ? { ...canonical, prefix } : undefined
}
