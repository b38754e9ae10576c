import { describe, expect, it } from 'vitest'
import { matchRule } from '../../src/policy/match-rule.js'
import { docsRead, policy } from './fixtures.js'

const rules = policy().ruleById
const docsReadRule = rules.get('docs-read')!
const repoAny = rules.get('repo-any')!

describe('matchRule', () => {
  it('matches a grant within type, actions, locations and identifier', () => {
    expect(matchRule(docsReadRule, docsRead)).toEqual({ matched: true })
    expect(matchRule(docsReadRule, { ...docsRead, identifier: 'docs/guide/*.md' })).toEqual({ matched: true })
    expect(matchRule(docsReadRule, { ...docsRead, locations: ['https://git.example.com/acme/app', 'https://git.example.com/acme/web'] })).toEqual({ matched: true })
  })

  it('refuses another type', () => {
    expect(matchRule(docsReadRule, { ...docsRead, type: 'deploy' })).toEqual({ matched: false, reason: 'type deploy is not repo' })
  })

  it('refuses an action the rule does not list, even alongside allowed ones', () => {
    expect(matchRule(docsReadRule, { ...docsRead, actions: ['read', 'write'] })).toEqual({
      matched: false,
      reason: 'action write not in [read]',
    })
    expect(matchRule(docsReadRule, { ...docsRead, actions: ['READ'] })).toMatchObject({ matched: false })
  })

  it('refuses a grant with no actions', () => {
    expect(matchRule(docsReadRule, { type: 'repo', locations: docsRead.locations!, identifier: 'docs/**' })).toEqual({
      matched: false,
      reason: 'the grant names no actions',
    })
    expect(matchRule(repoAny, { type: 'repo', actions: [] })).toMatchObject({ matched: false })
  })

  it('requires locations when the rule constrains them, each covered', () => {
    const { locations: _, ...noLocations } = docsRead
    expect(matchRule(docsReadRule, noLocations)).toEqual({
      matched: false,
      reason: 'the grant names no locations; the rule allows only [https://git.example.com/acme/*]',
    })
    expect(matchRule(docsReadRule, { ...docsRead, locations: ['https://git.example.com/acme/app', 'https://git.example.com/other/app'] })).toEqual({
      matched: false,
      reason: 'location https://git.example.com/other/app not covered by [https://git.example.com/acme/*]',
    })
    expect(matchRule(docsReadRule, { ...docsRead, locations: ['https://git.example.com/acme/**'] })).toMatchObject({ matched: false })
  })

  it('requires an identifier when the rule constrains it, covered by the rule pattern', () => {
    const { identifier: _, ...noIdentifier } = docsRead
    expect(matchRule(docsReadRule, noIdentifier)).toEqual({
      matched: false,
      reason: 'the grant names no identifier; the rule allows only docs/**',
    })
    expect(matchRule(docsReadRule, { ...docsRead, identifier: '**' })).toEqual({
      matched: false,
      reason: 'identifier ** not covered by docs/**',
    })
    expect(matchRule(docsReadRule, { ...docsRead, identifier: 'docs' })).toMatchObject({ matched: false })
  })

  it('allows fields the rule does not constrain', () => {
    expect(matchRule(repoAny, { type: 'repo', actions: ['admin'], locations: ['https://anywhere.example.com/'], identifier: '**', branch: 'main' })).toEqual({
      matched: true,
    })
  })
})
