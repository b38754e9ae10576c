import { describe, expect, it } from 'vitest'
import { addressKey } from '../../src/net/address-key.js'
import { canonicalAddress } from '../../src/net/canonical-address.js'
import { parseCidr } from '../../src/net/parse-cidr.js'

describe('addressKey', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['2001:db8:1:2::7', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['not-an-address', 'not-an-address'],
  ])('%s → %s', (address, key) => {
    expect(addressKey(address)).toBe(key)
  })
})

describe('canonicalAddress', () => {
  it('writes each IPv6 address one way (RFC 5952 compression) and refuses non-addresses', () => {
    expect(canonicalAddress('2001:0DB8:0:0:1:0:0:1')).toEqual(expect.objectContaining({ address: '2001:db8::1:0:0:1', family: 'ipv6' }))
    expect(canonicalAddress('::ffff:1.2.3.4')).toEqual({ address: '1.2.3.4', family: 'ipv4' })
    expect(canonicalAddress('1.2.3')).toBeUndefined()
    expect(canonicalAddress('1.2.3.4, 5.6.7.8')).toBeUndefined()
  })
})

describe('parseCidr', () => {
  it('accepts addresses and CIDRs of both families, and nothing else', () => {
    expect(parseCidr('10.0.0.0/8')).toMatchObject({ address: '10.0.0.0', family: 'ipv4', prefix: 8 })
    expect(parseCidr('10.0.0.7')).toMatchObject({ prefix: 32 })
    expect(parseCidr('fd00::/8')).toMatchObject({ address: 'fd00::', family: 'ipv6', prefix: 8 })
    expect(parseCidr('::ffff:10.0.0.1')).toMatchObject({ address: '10.0.0.1', family: 'ipv4', prefix: 32 })
    for (const bad of ['10.0.0.0/33', 'fd00::/129', '::ffff:10.0.0.0/104', 'proxy.internal', '10.0.0.0/8/8', '', '*']) {
      expect(parseCidr(bad), bad).toBeUndefined()
    }
  })
})
