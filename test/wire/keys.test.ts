import { describe, expect, it } from 'vitest'
import {
  approverMember,
  createStoreKeys,
  decodeKeyPart,
  encodeKeyPart,
  escapeGlob,
  parseApproverMember,
} from '../../src/wire/keys.js'

/** The part of a key Redis Cluster hashes (its hash tag rule). */
function hashedPart(key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  if (close === -1 || close === open + 1) return key
  return key.slice(open + 1, close)
}

describe('store keys', () => {
  const keys = createStoreKeys()

  it('builds the documented layout under the default prefix', () => {
    expect(keys.grant('agent', 'g1')).toBe('writ:{c:agent}:g:g1')
    expect(keys.tombstone('agent', 'g1')).toBe('writ:{c:agent}:x:g1')
    expect(keys.live('agent')).toBe('writ:{c:agent}:live')
    expect(keys.task('agent', 'JIRA-1')).toBe('writ:{c:agent}:t:JIRA-1')
    expect(keys.once('webauthn', 'abc')).toBe('writ:once:webauthn:abc')
    expect(keys.keySet()).toBe('writ:keys')
    expect(keys.grantPointer('g1')).toBe('writ:gid:g1')
    expect(keys.approver('alice@example.com')).toBe('writ:{a:alice@example.com}:grants')
    expect(keys.revocationChannel()).toBe('writ:revocations')
    expect(createStoreKeys('acme:').revocationChannel()).toBe('acme:revocations')
    expect(createStoreKeys('x:').live('a')).toBe('x:{c:a}:live')
  })

  it("puts every key of one client's scripts in the same Cluster slot", () => {
    for (const client of ['agent', 'a}b', '{x}', 'a:b', '']) {
      const tags = new Set([
        hashedPart(keys.grant(client, 'g}1')),
        hashedPart(keys.tombstone(client, '{g')),
        hashedPart(keys.live(client)),
        hashedPart(keys.task(client, 't{1}')),
      ])
      expect(tags).toEqual(new Set([`c:${encodeKeyPart(client)}`]))
    }
  })

  it('gives different clients different hash tags, whatever their ids contain', () => {
    expect(hashedPart(keys.live('a}b'))).not.toBe(hashedPart(keys.live('a')))
    expect(hashedPart(keys.grant('x', 'y}:g:z'))).not.toBe(hashedPart(keys.grant('x}:g:y', 'z')))
  })

  it('encodes ids injectively and without layout characters', () => {
    const ids = ['a', 'a{', 'a%7B', 'a%257B', 'a}', 'a:', '%', '%25', ':', '{}', 'ü{€']
    const encoded = ids.map(encodeKeyPart)
    expect(new Set(encoded).size).toBe(ids.length)
    for (const e of encoded) expect(e).not.toMatch(/[{}:]/)
    expect(encodeKeyPart('a{b}:c%')).toBe('a%7Bb%7D%3Ac%25')
  })

  it("keeps an approver's index in its own slot, whatever the approver id contains", () => {
    expect(hashedPart(keys.approver('a}b'))).toBe(`a:${encodeKeyPart('a}b')}`)
    expect(hashedPart(keys.approver('x'))).not.toBe(hashedPart(keys.live('x')))
    expect(keys.grantPointer('a:b{c}')).toBe('writ:gid:a%3Ab%7Bc%7D')
  })

  it('splits approver index members back into client and grant, whatever the client id holds', () => {
    for (const clientId of ['agent', 'a\u0000b', '', 'x:{y}']) {
      const member = approverMember(clientId, 'g-1')
      expect(parseApproverMember(member)).toEqual({ clientId, grantId: 'g-1' })
    }
    expect(parseApproverMember('no separator')).toBeNull()
  })

  it("finds each client's live index again from its key, and nothing else", () => {
    for (const clientId of ['agent', 'a{b}:c%7B', '%', 'ü{€', '']) {
      expect(keys.clientOfLive(keys.live(clientId))).toBe(clientId)
      expect(decodeKeyPart(encodeKeyPart(clientId))).toBe(clientId)
    }
    expect(keys.clientOfLive(keys.task('agent', 'live'))).toBeNull()
    expect(keys.clientOfLive(keys.grant('agent', 'live'))).toBeNull()
    expect(keys.clientOfLive(keys.approver('live'))).toBeNull()
    expect(keys.clientOfLive(keys.clients())).toBeNull()
    expect(createStoreKeys('other:').clientOfLive(keys.live('agent'))).toBeNull()
    expect(keys.livePattern()).toBe('writ:{c:*}:live')
  })

  it('escapes glob characters of the prefix in the pattern of live indexes', () => {
    expect(escapeGlob('a*b?c[d]e\\f')).toBe('a\\*b\\?c\\[d\\]e\\\\f')
    expect(createStoreKeys('w*[x]:').livePattern()).toBe('w\\*\\[x\\]:{c:*}:live')
  })

  it('refuses a prefix that would carry its own hash tag', () => {
    expect(() => createStoreKeys('writ{x}:')).toThrow(TypeError)
  })
})
