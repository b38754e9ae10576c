import { describe, expect, it } from 'vitest'
import { canonicalize } from '../../src/manifest/canonicalize.js'

/** The double whose IEEE 754 bits are `hex`, as RFC 8785 Appendix B lists them. */
function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8))
  view.setBigUint64(0, BigInt(`0x${hex}`))
  return view.getFloat64(0)
}

describe('canonicalize (RFC 8785)', () => {
  it('serializes the RFC 8785 §3.2.2 sample exactly', () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
    expect(canonicalize(JSON.parse(input))).toBe(expected)
  })

  it('sorts member names by UTF-16 code units (RFC 8785 §3.2.3 sample)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    }
    // 0x000D < 0x0031 < 0x0080 < 0x00F6 < 0x20AC < 0xD83D (the emoji's high surrogate) < 0xFB33
    const expected =
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    expect(canonicalize(input)).toBe(expected)
  })

  it('serializes numbers as RFC 8785 Appendix B lists them', () => {
    const cases: Array<[string, string]> = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ]
    for (const [bits, expected] of cases) expect(canonicalize(fromBits(bits)), bits).toBe(expected)
  })

  it('switches to exponent form at 1e21 and below 1e-6, and writes -0 as 0', () => {
    expect(canonicalize([1e21, 1e20, 1e-7, 1e-6, -0, 333333333.33333329])).toBe(
      '[1e+21,100000000000000000000,1e-7,0.000001,0,333333333.3333333]',
    )
  })

  it('rejects NaN and infinities (RFC 8785 Appendix B)', () => {
    expect(() => canonicalize(fromBits('7fffffffffffffff'))).toThrow(TypeError)
    expect(() => canonicalize(fromBits('7ff0000000000000'))).toThrow(TypeError)
    expect(() => canonicalize({ a: [Number.NEGATIVE_INFINITY] })).toThrow(/\$\["a"\]\[0\]/)
  })

  it('writes no whitespace and escapes only what JSON requires', () => {
    expect(canonicalize({ b: [1, { d: 'x y', c: '\u001f\t' }], a: null })).toBe(
      '{"a":null,"b":[1,{"c":"\\u001f\\t","d":"x y"}]}',
    )
    expect(canonicalize('</script>\u2028é')).toBe('"</script>\u2028é"')
  })

  it('sorts nested objects and keeps array order', () => {
    expect(canonicalize([{ z: 1, a: { y: 2, b: 3 } }, 'x', []])).toBe('[{"a":{"b":3,"y":2},"z":1},"x",[]]')
  })

  it('keeps an own "__proto__" member as data', () => {
    expect(canonicalize(JSON.parse('{"__proto__":{"a":1},"b":2}'))).toBe('{"__proto__":{"a":1},"b":2}')
  })

  it('rejects undefined, functions, symbols and bigints with a TypeError', () => {
    expect(() => canonicalize(undefined)).toThrow(TypeError)
    expect(() => canonicalize({ a: undefined })).toThrow(TypeError)
    expect(() => canonicalize([undefined])).toThrow(TypeError)
    expect(() => canonicalize({ f: () => 1 })).toThrow(TypeError)
    expect(() => canonicalize(Symbol('s'))).toThrow(TypeError)
    expect(() => canonicalize({ n: 10n })).toThrow(TypeError)
  })

  it('rejects non-plain objects, symbol keys, cycles and lone surrogates', () => {
    expect(() => canonicalize(new Date(0))).toThrow(TypeError)
    expect(() => canonicalize(new Map())).toThrow(TypeError)
    expect(() => canonicalize({ [Symbol('k')]: 1 })).toThrow(TypeError)
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(() => canonicalize(cycle)).toThrow(/circular/)
    expect(() => canonicalize('\ud800')).toThrow(/lone surrogate/)
    expect(() => canonicalize({ '\udc00': 1 })).toThrow(/lone surrogate/)
  })

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { a: 1 }
    expect(canonicalize([shared, shared])).toBe('[{"a":1},{"a":1}]')
  })

  it('accepts objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>
    bare.b = 1
    bare.a = 2
    expect(canonicalize(bare)).toBe('{"a":2,"b":1}')
  })
})

describe('canonicalize beyond the fast path', () => {
  it('serializes data nested deeper than the fast path goes, the same way', () => {
    let deep: unknown = 'leaf'
    for (let i = 0; i < 300; i++) deep = i % 2 === 0 ? [deep] : { k: deep }
    const text = canonicalize(deep)
    expect(JSON.parse(text)).toEqual(deep)
    expect(text.startsWith('{"k":[{"k":')).toBe(true)
  })

  it('names where a problem is, however deep it sits', () => {
    expect(() => canonicalize({ a: [{ b: 1 }, { c: Number.NaN }] })).toThrow('canonicalize: $["a"][1]["c"] is not a finite number')
    const deepCycle: Record<string, unknown> = { a: { b: {} } }
    ;(deepCycle.a as { b: Record<string, unknown> }).b.back = deepCycle
    expect(() => canonicalize(deepCycle)).toThrow('canonicalize: $["a"]["b"]["back"] is a circular reference')
  })
})
