import { describe, expect, it } from 'vitest'
import { readMcpCalls } from '../../../src/verifier/index.js'

describe('readMcpCalls and method names that are Object.prototype members', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('reads %s as another method (refused by the check), not as a call', (method) => {
    // JSON.parse makes "__proto__" an own member, as a JSON-RPC body would.
    const body = JSON.parse(`{"jsonrpc":"2.0","id":1,"method":${JSON.stringify(method)},"params":{"[object Object]":"x"}}`)
    expect(readMcpCalls(body)).toEqual([{ kind: 'other', method, id: 1 }])
  })
})
