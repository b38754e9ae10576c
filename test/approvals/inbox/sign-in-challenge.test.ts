import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { signInChallenge } from '../../../src/approvals/inbox/sign-in-challenge.js'

describe('signInChallenge', () => {
  it('is SHA-256 over the canonical JSON of {exp, nonce, purpose, rp_id}, base64url', () => {
    // RFC 8785 orders members by name; written out by hand here.
    const canonical = '{"exp":1767225900,"nonce":"q8","purpose":"writ.approver_inbox.sign_in","rp_id":"writ.example.com"}'
    const expected = createHash('sha256').update(canonical, 'utf8').digest('base64url')
    expect(signInChallenge({ rp_id: 'writ.example.com', exp: 1767225900, nonce: 'q8' })).toBe(expected)
  })

  it('changes with every input', () => {
    const base = { rp_id: 'writ.example.com', exp: 1767225900, nonce: 'q8' }
    const all = [base, { ...base, rp_id: 'example.com' }, { ...base, exp: 1767225901 }, { ...base, nonce: 'q9' }].map(signInChallenge)
    expect(new Set(all).size).toBe(4)
  })
})
