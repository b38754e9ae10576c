import { describe, expect, it } from 'vitest'
import { compileDenyPolicy } from '../../../src/credentials/aws/index.js'

const NOW = Date.UTC(2026, 0, 1) / 1000

describe('compileDenyPolicy', () => {
  it('denies everything to the sessions of revoked grants, by session name, sorted', () => {
    const policy = compileDenyPolicy({ sessions: { 'zz-grant_2': NOW + 900, 'Aa-grant_1': NOW + 60 } }, NOW)
    expect(JSON.parse(policy!)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'WritRevokedGrants',
          Effect: 'Deny',
          Action: '*',
          Resource: '*',
          Condition: { StringLike: { 'aws:userid': ['*:Aa-grant_1', '*:zz-grant_2'] } },
        },
      ],
    })
  })

  it('leaves out sessions that have expired, and is null when nothing is left', () => {
    const policy = compileDenyPolicy({ sessions: { expired: NOW, live: NOW + 1 } }, NOW)
    expect(JSON.parse(policy!).Statement[0].Condition.StringLike['aws:userid']).toEqual(['*:live'])
    expect(compileDenyPolicy({ sessions: { expired: NOW - 5 } }, NOW)).toBeNull()
    expect(compileDenyPolicy({ sessions: {}, cutoff: { issuedBefore: NOW - 100, until: NOW } }, NOW)).toBeNull()
  })

  it('denies sessions issued before a cutoff until the cutoff expires', () => {
    const policy = compileDenyPolicy({ sessions: {}, cutoff: { issuedBefore: NOW + 30, until: NOW + 3600 } }, NOW)
    expect(JSON.parse(policy!).Statement).toEqual([
      {
        Sid: 'WritRevokedBefore',
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: { DateLessThan: { 'aws:TokenIssueTime': '2026-01-01T00:00:30Z' } },
      },
    ])
  })
})
