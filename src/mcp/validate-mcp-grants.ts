import { WritError } from '../errors.js'
import type { AuthorizationDetail } from '../manifest/types.js'
import { isMcpAction, MCP_ACTIONS, MCP_TYPE } from './mcp-grant.js'

const MEMBERS = new Set(['type', 'actions', 'locations', 'identifier'])
const HTTP_URL = /^https?:\/\/[^/?#]+/i

/**
 * The first problem of one `type: mcp` grant (field path relative to the grant, then the
 * problem), or undefined when it is well formed:
 * - `locations`: required, the MCP server's URL(s): each an http(s) URL, not a pattern;
 * - `actions`: each one of `tools/call`, `resources/read`, `prompts/get`;
 * - `identifier`: required, the tool name, resource URI or prompt name, or a glob of them
 *   (`get_*`; `*` for every tool);
 * - no other members: a misspelt field must not pass unnoticed as an unrestricted grant.
 *
 * `requireLocations: false` accepts a grant without locations (a policy scope template, whose
 * locations come from the request's `resource`).
 */
export function mcpGrantProblem(
  grant: AuthorizationDetail,
  options: { requireLocations?: boolean } = {},
): string | undefined {
  for (const name of Object.keys(grant)) {
    // Ensure every member means something to the MCP check; an unknown one would be ignored.
    if (!MEMBERS.has(name)) return `${name}: not a field of mcp grants (type, actions, locations, identifier)`
  }
  const actions = Array.isArray(grant.actions) ? grant.actions : []
  for (const [i, action] of actions.entries()) {
    // Ensure each action is an MCP method writ/verifier can enforce.
    if (!isMcpAction(action)) {
      const known = Object.keys(MCP_ACTIONS).join(', ')
      return `actions[${i}]: unknown MCP action ${JSON.stringify(action)}; expected one of ${known}`
    }
  }
  if (grant.locations === undefined) {
    if (options.requireLocations !== false) {
      return 'locations: required for mcp grants (the MCP server URL, like https://mcp.example.com/mcp)'
    }
  } else {
    for (const [i, location] of grant.locations.entries()) {
      // Ensure the grant names servers exactly: an MCP server is one URL, its token's audience.
      if (!HTTP_URL.test(location)) return `locations[${i}]: expected the MCP server's http(s) URL`
      if (location.includes('*')) return `locations[${i}]: expected the MCP server's URL, not a pattern`
    }
  }
  // Ensure the grant says which tools, resources or prompts: an absent identifier is not "all".
  if (typeof grant.identifier !== 'string') {
    return 'identifier: required for mcp grants (a tool name, resource URI or prompt name, or a glob like get_*)'
  }
  return undefined
}

/**
 * Checks every `type: mcp` grant of a request is well formed (see {@link mcpGrantProblem}), so a
 * malformed one is refused when the token is asked for, not minted into a token no MCP server
 * could check.
 *
 * @throws WritError `invalid_authorization_details` (400) naming the grant and field:
 *   `authorization_details[0].actions[1]: unknown MCP action "tools/lst"; expected one of ...`.
 */
export function validateMcpGrants(details: readonly AuthorizationDetail[]): void {
  details.forEach((detail, index) => {
    if (detail.type !== MCP_TYPE) return
    const problem = mcpGrantProblem(detail)
    if (problem !== undefined) {
      throw new WritError('invalid_authorization_details', 400, `authorization_details[${index}].${problem}`)
    }
  })
}
