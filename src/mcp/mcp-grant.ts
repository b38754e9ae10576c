/** The authorization_details type of a grant to an MCP server's tools, resources and prompts. */
export const MCP_TYPE = 'mcp'

/**
 * The MCP methods a grant can name as `actions`, each with what its `identifier` matches: a tool
 * name (`tools/call`), a resource URI (`resources/read`) or a prompt name (`prompts/get`).
 * Discovery methods (`initialize`, `ping`, `tools/list`, `resources/list`,
 * `resources/templates/list`, `prompts/list`) are not actions: any holder of an `mcp` grant for
 * the server may call them (`writ/verifier` filters `tools/list` to the tools the token may call).
 */
export const MCP_ACTIONS = {
  'tools/call': { verb: 'Call', noun: 'tool', nouns: 'tools' },
  'resources/read': { verb: 'Read', noun: 'resource', nouns: 'resources' },
  'prompts/get': { verb: 'Get', noun: 'prompt', nouns: 'prompts' },
} as const

export type McpAction = keyof typeof MCP_ACTIONS

export const isMcpAction = (action: string): action is McpAction => Object.hasOwn(MCP_ACTIONS, action)
