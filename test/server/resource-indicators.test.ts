import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedApproverKey } from '../helpers/approver-key.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'
import { GATEWAY, MCP_SECRET, MCP_URL, OTHER_MCP_URL, mcpPolicyText } from '../helpers/mcp-policy.js'

/*
 * RFC 8707 resource indicators, policy scopes and MCP grants through a real OAuth client
 * (oauth4webapi) against a broker over HTTP on Redis.
 */

let http: HttpBroker
let as: oauth.AuthorizationServer
const client: oauth.Client = { client_id: 'mcp-agent' }
const auth = oauth.ClientSecretBasic(MCP_SECRET)
const insecure = { [oauth.allowInsecureRequests]: true }

beforeAll(async () => {
  http = await startHttpBroker({}, { policyText: await mcpPolicyText() })
  // A release manager with a key: requests that need one are accepted (and wait for them).
  await seedApproverKey(http.broker.approvals, 'alice@example.com', 'release-managers')
  const issuer = new URL(http.url)
  as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
  )
})
afterAll(() => http?.close())

const docs = (location = 'https://git.example.com/acme/app') => ({
  type: 'repo',
  actions: ['read'],
  locations: [location],
  identifier: 'docs/**',
})

/** A client_credentials request with these parameters (`resource` may repeat); its token's claims. */
async function token(params: URLSearchParams) {
  const res = await oauth.clientCredentialsGrantRequest(as, client, auth, params, insecure)
  const body = await oauth.processClientCredentialsResponse(as, client, res)
  return { body, claims: decodeJwt(body.access_token) }
}

/** The OAuth error a client_credentials request with these parameters gets. */
async function refusal(params: URLSearchParams) {
  const res = await oauth.clientCredentialsGrantRequest(as, client, auth, params, insecure)
  try {
    await oauth.processClientCredentialsResponse(as, client, res)
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) return { status: err.status, error: err.error, description: err.error_description ?? '' }
    throw err
  }
  throw new Error('expected the request to be refused, but a token was issued')
}

const withDetails = (details: unknown[], resources: string[] = [], extra: Record<string, string> = {}) => {
  const params = new URLSearchParams({ task_id: 'DOCS-1', authorization_details: JSON.stringify(details), ...extra })
  for (const resource of resources) params.append('resource', resource)
  return params
}

const withScope = (scope: string, resources: string[] = [], extra: Record<string, string> = {}) => {
  const params = new URLSearchParams({ scope, ...extra })
  for (const resource of resources) params.append('resource', resource)
  return params
}

describe('resource indicators (RFC 8707) at the token endpoint', () => {
  it('without resource, the audience is the grants’ locations, as before', async () => {
    const { claims } = await token(withDetails([docs()]))
    expect(claims.aud).toBe('https://git.example.com/acme/app')
  })

  it('one resource becomes the audience', async () => {
    const { claims } = await token(withDetails([docs()], ['https://git.example.com/acme/app']))
    expect(claims.aud).toBe('https://git.example.com/acme/app')
  })

  it('several resources become the audience in request order, without duplicates', async () => {
    const site = 'https://git.example.com/acme/site'
    const app = 'https://git.example.com/acme/app'
    const { claims } = await token(withDetails([docs(app), docs(site)], [site, app, site]))
    expect(claims.aud).toEqual([site, app])
  })

  it('a resource a matched rule names (a gateway) is accepted', async () => {
    const { claims } = await token(withDetails([docs()], [GATEWAY]))
    expect(claims.aud).toBe(GATEWAY)
  })

  it('refuses a resource no grant covers with invalid_target naming it, and issues nothing', async () => {
    const got = await refusal(withDetails([docs()], ['https://git.example.com/acme/app', 'https://evil.example.com/']))
    expect(got).toMatchObject({ status: 400, error: 'invalid_target' })
    expect(got.description).toContain('resource[1]: https://evil.example.com/')
  })

  it.each([
    ['a fragment', 'https://mcp.example.com/mcp#tools', 'fragment'],
    ['a relative URI', '/mcp', 'not an absolute URI'],
    ['a glob', 'https://mcp.example.com/*', 'must not contain *'],
    ['a query', 'https://mcp.example.com/mcp?x=1', 'query'],
    ['a dot segment', 'https://mcp.example.com/a/../mcp', '..'],
  ])('refuses %s with invalid_target', async (_what, resource, words) => {
    const got = await refusal(withScope('mcp:github:read', [resource]))
    expect(got).toMatchObject({ status: 400, error: 'invalid_target' })
    expect(got.description).toContain('resource:')
    expect(got.description).toContain(words)
  })

  it('ignores unknown parameters, as RFC 6749 §3.2 asks, whatever their name', async () => {
    const { claims } = await token(withDetails([docs()], [], { toString: 'x', constructor: 'y', x_vendor: 'z' }))
    expect(claims.aud).toBe('https://git.example.com/acme/app')
  })

  it('refuses audience (a parameter some servers take for aud) rather than ignoring it', async () => {
    const got = await refusal(withDetails([docs()], [], { audience: 'https://evil.example.com/' }))
    expect(got).toMatchObject({ status: 400, error: 'invalid_request' })
    expect(got.description).toMatch(/^audience: not supported: name the audience with resource/)
  })
})

describe('scopes for plain OAuth clients', () => {
  it('publishes the policy’s scopes in the metadata', () => {
    expect(as.scopes_supported).toEqual(['mcp:github:read', 'mcp:resources', 'mcp:deploy', 'docs:read'])
  })

  it('grants exactly what a scope expands to, bound to the resource, with a generated task id', async () => {
    const { body, claims } = await token(withScope('mcp:github:read', [MCP_URL]))
    const expected = [{ type: 'mcp', actions: ['tools/call'], identifier: 'get_*', locations: [MCP_URL] }]
    expect(body.scope).toBe('mcp:github:read')
    expect(body.authorization_details).toEqual(expected)
    expect(claims).toMatchObject({ aud: MCP_URL, scope: 'mcp:github:read', authorization_details: expected })
    expect((claims.task as { id: string }).id).toMatch(/^oauth-[A-Za-z0-9_-]{22}$/)
    // The same scope for another server the rules allow is a token for that server only.
    const other = await token(withScope('mcp:github:read', [OTHER_MCP_URL]))
    expect(other.claims.aud).toBe(OTHER_MCP_URL)
  })

  it('several scopes: every expansion, the names in request order', async () => {
    const { claims } = await token(withScope('mcp:resources mcp:github:read mcp:resources', [MCP_URL]))
    expect(claims.scope).toBe('mcp:resources mcp:github:read')
    expect(claims.authorization_details).toHaveLength(2)
  })

  it('scope and authorization_details together: both sets of grants (RFC 9396 §3.1)', async () => {
    const params = withScope('mcp:github:read', [MCP_URL], { authorization_details: JSON.stringify([docs()]) })
    const { claims } = await token(params)
    expect(claims.authorization_details).toEqual([
      docs(),
      { type: 'mcp', actions: ['tools/call'], identifier: 'get_*', locations: [MCP_URL] },
    ])
    expect(claims).toMatchObject({ aud: MCP_URL, scope: 'mcp:github:read' })
  })

  it('a template that names its locations needs no resource', async () => {
    const { claims } = await token(withScope('docs:read'))
    expect(claims).toMatchObject({ aud: 'https://git.example.com/acme/app', scope: 'docs:read' })
  })

  it('refuses an unknown scope with invalid_scope naming it', async () => {
    const got = await refusal(withScope('mcp:github:read mcp:github:admin', [MCP_URL]))
    expect(got).toMatchObject({ status: 400, error: 'invalid_scope' })
    expect(got.description).toBe('scope: unknown scope "mcp:github:admin"')
  })

  it('refuses a scope whose templates need a resource when none is sent', async () => {
    const got = await refusal(withScope('mcp:github:read'))
    expect(got).toMatchObject({ status: 400, error: 'invalid_target' })
    expect(got.description).toContain('resource: required for scope mcp:github:read')
  })

  it('a scope still goes through the rules: a server no rule allows is access_denied', async () => {
    const got = await refusal(withScope('mcp:deploy', [OTHER_MCP_URL]))
    expect(got).toMatchObject({ status: 403, error: 'access_denied' })
  })

  it('a scope whose grants need approval is refused at client_credentials and pending through CIBA', async () => {
    const refused = await refusal(withScope('mcp:deploy', [MCP_URL]))
    expect(refused).toMatchObject({ status: 403, error: 'access_denied' })
    expect(refused.description).toContain('rule mcp-deploy: 1 approver(s) from release-managers')

    const started = await oauth.processBackchannelAuthenticationResponse(
      as,
      client,
      await oauth.backchannelAuthenticationRequest(as, client, auth, withScope('mcp:deploy', [MCP_URL]), insecure),
    )
    expect(started.auth_req_id).toMatch(/\./)
    const poll = await oauth.backchannelAuthenticationGrantRequest(as, client, auth, started.auth_req_id, insecure)
    await expect(oauth.processBackchannelAuthenticationGrantResponse(as, client, poll)).rejects.toMatchObject({
      error: 'authorization_pending',
    })
  })
})

describe('mcp grants', () => {
  const mcp = (extra: Record<string, unknown> = {}) => ({
    type: 'mcp',
    actions: ['tools/call'],
    locations: [MCP_URL],
    identifier: 'get_issue',
    ...extra,
  })

  it('issues a token for a tool the rules allow, with the server as audience', async () => {
    const { claims } = await token(withDetails([mcp()], [MCP_URL]))
    expect(claims).toMatchObject({ aud: MCP_URL, authorization_details: [mcp()] })
  })

  it.each([
    [{ actions: ['tools/call', 'tools/lst'] }, 'authorization_details[0].actions[1]: unknown MCP action "tools/lst"'],
    [{ identifier: undefined }, 'authorization_details[0].identifier: required for mcp grants'],
    [{ locations: undefined }, 'authorization_details[0].locations: required for mcp grants'],
    [{ locations: ['https://mcp.example.com/*'] }, 'authorization_details[0].locations[0]: expected the MCP server\'s URL, not a pattern'],
    [{ locations: ['urn:mcp:github'] }, 'authorization_details[0].locations[0]: expected the MCP server\'s http(s) URL'],
    [{ tools: ['deploy_prod'] }, 'authorization_details[0].tools: not a field of mcp grants'],
  ])('refuses a malformed mcp grant %j, naming the field', async (extra, message) => {
    const got = await refusal(withDetails([mcp(extra)]))
    expect(got).toMatchObject({ status: 400, error: 'invalid_authorization_details' })
    expect(got.description).toContain(message)
  })

  it('refuses a malformed mcp grant at /oauth/bc-authorize too, before anyone is asked', async () => {
    const res = await oauth.backchannelAuthenticationRequest(
      as,
      client,
      auth,
      withDetails([mcp({ actions: ['tools/delete'], identifier: 'deploy_prod' })]),
      insecure,
    )
    await expect(oauth.processBackchannelAuthenticationResponse(as, client, res)).rejects.toMatchObject({
      error: 'invalid_authorization_details',
    })
  })
})

describe('resources in a /v1/tokens manifest', () => {
  const post = (manifest: unknown) =>
    fetch(`${http.url}/v1/tokens`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`mcp-agent:${encodeURIComponent(MCP_SECRET).replace(/%20/g, '+')}`).toString('base64')}`,
      },
      body: JSON.stringify(manifest),
    })

  it('names the audience', async () => {
    const res = await post({ task: { id: 'T-1' }, grants: [docs()], resources: [GATEWAY] })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { access_token: string }
    expect(decodeJwt(body.access_token).aud).toBe(GATEWAY)
  })

  it('refuses a resource with a fragment, or one nothing covers, with invalid_target', async () => {
    const fragment = await post({ task: { id: 'T-1' }, grants: [docs()], resources: [`${GATEWAY}#x`] })
    expect(fragment.status).toBe(400)
    expect(await fragment.json()).toMatchObject({ error: 'invalid_target', error_description: expect.stringContaining('resources[0]:') })
    const uncovered = await post({ task: { id: 'T-1' }, grants: [docs()], resources: [MCP_URL] })
    expect(uncovered.status).toBe(400)
    expect(((await uncovered.json()) as { error: string }).error).toBe('invalid_target')
  })
})
