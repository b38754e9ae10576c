import { isIPv4, isIPv6 } from 'node:net'

/** An IP address in one spelling per address, with its family. */
export interface CanonicalAddress {
  address: string
  family: 'ipv4' | 'ipv6'
  /** The eight 16-bit groups of an IPv6 address (absent for IPv4). */
  groups?: number[]
}

/** The eight 16-bit groups of a valid IPv6 address (no zone), `::` and an IPv4 tail expanded. */
function ipv6Groups(address: string): number[] {
  const parse = (part: string): number[] => {
    if (part === '') return []
    const out: number[] = []
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number]
        out.push((a << 8) | b, (c << 8) | d)
      } else {
        out.push(parseInt(piece, 16))
      }
    }
    return out
  }
  const [head, tail] = address.split('::') as [string, string | undefined]
  if (tail === undefined) return parse(head)
  const left = parse(head)
  const right = parse(tail)
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right]
}

/**
 * `address` in canonical form, or undefined when it is not an IP address: IPv4 as is, an
 * IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, how a dual-stack socket reports an IPv4 peer) as
 * its IPv4 address, other IPv6 addresses lower case and compressed with their zone (`%eth0`)
 * dropped.
 */
export function canonicalAddress(address: string): CanonicalAddress | undefined {
  const bare = address.trim()
  if (isIPv4(bare)) return { address: bare, family: 'ipv4' }
  const unzoned = bare.replace(/%[^%]*$/, '')
  if (!isIPv6(unzoned)) return undefined
  const groups = ipv6Groups(unzoned.toLowerCase())
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6]!, groups[7]!]
    return { address: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 'ipv4' }
  }
  return { address: compress(groups), family: 'ipv6', groups }
}

/** RFC 5952 text of eight groups: the longest run (2 or more) of zero groups becomes `::`. */
function compress(groups: number[]): string {
  let best = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) [best, bestLength] = [i, j - i]
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best < 0) return hex.join(':')
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`
}
