import { describe, expect, it } from 'vitest'
import { WritError } from '../../src/errors.js'
import { parseAuthorizationDetails } from '../../src/manifest/parse-authorization-details.js'

function rejection(param: string, maxGrants?: number): WritError {
  try {
    parseAuthorizationDetails(param, maxGrants === undefined ? {} : { maxGrants })
  } catch (err) {
    if (err instanceof WritError) return err
    throw err
  }
  throw new Error('expected a WritError')
}

describe('parseAuthorizationDetails', () => {
  it('parses an RFC 9396 authorization_details array', () => {
    const details = [
      { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
      { type: 'aws', actions: ['s3:GetObject'], locations: ['arn:aws:s3:::acme-docs/*'], role_arn: 'arn:aws:iam::1:role/r' },
    ]
    expect(parseAuthorizationDetails(JSON.stringify(details), {})).toEqual(details)
  })

  it('answers invalid_authorization_details for malformed JSON', () => {
    const err = rejection('[{"type": "repo",')
    expect(err.code).toBe('invalid_authorization_details')
    expect(err.status).toBe(400)
    expect(err.message).toBe('authorization_details is not valid JSON: unexpected end of input at line 1, column 18')
  })

  it('prefixes every field path with authorization_details', () => {
    const err = rejection(JSON.stringify([{ type: 'repo', actions: ['read'] }, { type: 'repo', actions: 'write' }, {}]))
    expect(err.code).toBe('invalid_authorization_details')
    expect(err.message.split('; ')).toEqual([
      'authorization_details[1].actions: expected an array of strings',
      'authorization_details[2].type: required',
      'authorization_details[2].actions: required',
    ])
  })

  it('refuses something other than a non-empty array', () => {
    expect(rejection('{"type":"repo","actions":["read"]}').message).toBe('authorization_details: expected an array of objects')
    expect(rejection('[]').message).toBe('authorization_details: expected at least one of the entries')
  })

  it('refuses more entries than allowed', () => {
    const many = JSON.stringify(Array.from({ length: 51 }, () => ({ type: 'repo', actions: ['read'] })))
    expect(rejection(many).message).toBe('authorization_details: at most 50 entries (got 51)')
    expect(rejection(many, 10).message).toBe('authorization_details: at most 10 entries (got 51)')
  })

  it('refuses prototype-reaching member names', () => {
    const err = rejection('[{"type":"repo","actions":["read"],"__proto__":{"x":1}}]')
    expect(err.message).toBe('authorization_details[0].__proto__: field name not allowed')
  })
})
