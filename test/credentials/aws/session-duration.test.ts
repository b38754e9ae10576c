import { describe, expect, it } from 'vitest'
import { sessionDurationSeconds } from '../../../src/credentials/aws/index.js'

const base = { roleMaxSeconds: 3600, roleChaining: false }

describe('sessionDurationSeconds', () => {
  it('is the grant remaining life when that fits', () => {
    expect(sessionDurationSeconds({ ...base, remainingSeconds: 1800 })).toBe(1800)
  })

  it('is raised to AWS minimum of 900 seconds', () => {
    expect(sessionDurationSeconds({ ...base, remainingSeconds: 60 })).toBe(900)
  })

  it('is capped by the role maximum', () => {
    expect(sessionDurationSeconds({ ...base, remainingSeconds: 7200 })).toBe(3600)
    expect(sessionDurationSeconds({ remainingSeconds: 50_000, roleMaxSeconds: 43_200, roleChaining: false })).toBe(43_200)
  })

  it('is capped at one hour when the broker runs on a role (role chaining)', () => {
    expect(sessionDurationSeconds({ remainingSeconds: 7200, roleMaxSeconds: 43_200, roleChaining: true })).toBe(3600)
    expect(sessionDurationSeconds({ remainingSeconds: 7200, roleMaxSeconds: 43_200, roleChaining: false })).toBe(7200)
  })

  it('takes a shorter requested duration, but never beyond the grant life', () => {
    expect(sessionDurationSeconds({ ...base, remainingSeconds: 3000, requestedSeconds: 1200 })).toBe(1200)
    expect(sessionDurationSeconds({ ...base, remainingSeconds: 1000, requestedSeconds: 3000 })).toBe(1000)
  })

  it('rounds a fractional remaining life down', () => {
    expect(sessionDurationSeconds({ ...base, remainingSeconds: 1234.9 })).toBe(1234)
  })
})
