import { describe, expect, it } from 'vitest'
import { keySetMessage, parseRevocationMessage } from '../../src/wire/revocation-message.js'

describe('parseRevocationMessage', () => {
  it('keeps reading the messages earlier brokers publish', () => {
    expect(parseRevocationMessage('{"v":1,"all":true}')).toEqual({ v: 1, all: true })
    expect(parseRevocationMessage('{"v":1,"grants":[{"id":"g","clientId":"c","exp":5}]}')).toEqual({
      v: 1,
      grants: [{ id: 'g', clientId: 'c', exp: 5 }],
    })
  })

  it('reads a key-set announcement', () => {
    const text = JSON.stringify(keySetMessage(['kid-a', 'kid-b']))
    expect(parseRevocationMessage(text)).toEqual({ v: 1, keys: { kids: ['kid-a', 'kid-b'] } })
  })

  it.each([
    ['no kids', { v: 1, keys: { kids: [] } }],
    ['more kids than a key set holds', { v: 1, keys: { kids: ['a', 'b', 'c', 'd'] } }],
    ['a kid that is not a string', { v: 1, keys: { kids: ['a', 7] } }],
    ['an empty kid', { v: 1, keys: { kids: [''] } }],
    ['an overlong kid', { v: 1, keys: { kids: ['k'.repeat(129)] } }],
    ['keys that are not an object', { v: 1, keys: 'all' }],
    ['another version', { v: 2, keys: { kids: ['a'] } }],
  ])('reads a key-set announcement with %s as malformed (null)', (_name, message) => {
    expect(parseRevocationMessage(JSON.stringify(message))).toBeNull()
  })
})
