import { describe, expect, it } from 'vitest'
import { compileDenyPolicy, denyPolicyVersion } from '../../../src/credentials/aws/index.js'

const NOW = Date.UTC(2026, 0, 1) / 1000
const s = (until: number, client = 'agent-a') => ({ client, until })

describe('compileDenyPolicy', () => {
  it('denies everything to the sessions of revoked grants, by session name, sorted', () => {
    const policy = compileDenyPolicy({ sessions: { 'zz-grant_2': s(NOW + 900), 'Aa-grant_1': s(NOW + 60) } }, NOW, 3)
    expect(JSON.parse(policy!)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'WritV3RevokedGrants',
          Effect: 'Deny',
          Action: '*',
          Resource: '*',
          Condition: { StringLike: { 'aws:userid': ['*:Aa-grant_1', '*:zz-grant_2'] } },
        },
      ],
    })
  })

  it('leaves out sessions that have expired, and is null when nothing is left', () => {
    const policy = compileDenyPolicy({ sessions: { expired: s(NOW), live: s(NOW + 1) } }, NOW, 1)
    expect(JSON.parse(policy!).Statement[0].Condition.StringLike['aws:userid']).toEqual(['*:live'])
    expect(compileDenyPolicy({ sessions: { expired: s(NOW - 5) } }, NOW, 1)).toBeNull()
    expect(compileDenyPolicy({ sessions: {}, cutoff: { issuedBefore: NOW - 100, until: NOW } }, NOW, 1)).toBeNull()
    const expiredClient = { sessions: {}, clientCutoffs: { 'agent-a': { issuedBefore: NOW - 100, until: NOW } } }
    expect(compileDenyPolicy(expiredClient, NOW, 1)).toBeNull()
  })

  it('denies sessions issued before a cutoff until the cutoff expires', () => {
    const policy = compileDenyPolicy({ sessions: {}, cutoff: { issuedBefore: NOW + 30, until: NOW + 3600 } }, NOW, 12)
    expect(JSON.parse(policy!).Statement).toEqual([
      {
        Sid: 'WritV12RevokedBefore',
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: { DateLessThan: { 'aws:TokenIssueTime': '2026-01-01T00:00:30Z' } },
      },
    ])
  })

  it("denies a client's cutoff only to sessions tagged with that client, one statement per client", () => {
    const entries = {
      sessions: { 'grant-b': s(NOW + 900, 'agent-b') },
      clientCutoffs: {
        'agent-z': { issuedBefore: NOW + 30, until: NOW + 3600 },
        'agent-a': { issuedBefore: NOW + 10, until: NOW + 60 },
      },
    }
    const statements = JSON.parse(compileDenyPolicy(entries, NOW, 4)!).Statement
    expect(statements.map((st: { Sid: string }) => st.Sid)).toEqual([
      'WritV4RevokedGrants',
      'WritV4ClientRevokedBefore1',
      'WritV4ClientRevokedBefore2',
    ])
    expect(statements.slice(1)).toEqual([
      {
        Sid: 'WritV4ClientRevokedBefore1',
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: {
          DateLessThan: { 'aws:TokenIssueTime': '2026-01-01T00:00:10Z' },
          StringEquals: { 'aws:PrincipalTag/writ:client': 'agent-a' },
        },
      },
      {
        Sid: 'WritV4ClientRevokedBefore2',
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: {
          DateLessThan: { 'aws:TokenIssueTime': '2026-01-01T00:00:30Z' },
          StringEquals: { 'aws:PrincipalTag/writ:client': 'agent-z' },
        },
      },
    ])
  })
})

describe('denyPolicyVersion', () => {
  it('reads back the version a compiled policy carries', () => {
    const policy = compileDenyPolicy(
      { sessions: { g: s(NOW + 9) }, clientCutoffs: { c: { issuedBefore: NOW, until: NOW + 9 } } },
      NOW,
      42,
    )
    expect(denyPolicyVersion(policy)).toBe(42)
  })

  it('is null for no policy, a foreign one, or statements of different versions', () => {
    expect(denyPolicyVersion(null)).toBeNull()
    expect(denyPolicyVersion('not json')).toBeNull()
    expect(denyPolicyVersion('{"Statement":[]}')).toBeNull()
    expect(denyPolicyVersion('{"Statement":[{"Sid":"Other"}]}')).toBeNull()
    expect(denyPolicyVersion('{"Statement":[{"Sid":"WritV1RevokedGrants"},{"Sid":"WritV2RevokedBefore"}]}')).toBeNull()
  })
})
