import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { parse } from 'yaml'

type Json = Record<string, unknown>
const doc = parse(readFileSync(resolve(import.meta.dirname, '../../openapi.yaml'), 'utf8')) as Json

const ajv = new Ajv2020({ strict: false, allErrors: true })
;(addFormats as unknown as (a: Ajv2020) => void)(ajv)
// Register the whole document once so `#/components/...` references resolve.
ajv.addSchema({ ...doc, $id: 'openapi' } as Json, 'openapi')

/** Every (method, path, status) the tests have checked, to prove the document is covered. */
export const seen = new Set<string>()

function deref(node: Json): Json {
  let current = node
  while (typeof current.$ref === 'string') {
    const parts = (current.$ref as string).replace(/^#\//, '').split('/')
    current = parts.reduce<Json>((n, p) => n[p.replace(/~1/g, '/').replace(/~0/g, '~')] as Json, doc)
  }
  return current
}

function pointer(path: string[]): string {
  return 'openapi#/' + path.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')
}

/** The documented path a request path matches: itself, or a template like `/admin/grants/{id}`. */
function documentedPath(requestPath: string): string {
  const bare = requestPath.split('?', 1)[0]!
  const paths = doc.paths as Record<string, Json>
  if (paths[bare]) return bare
  const template = Object.keys(paths).find((p) => {
    if (!p.includes('{')) return false
    const source = p
      .split(/\{[^}]+\}/)
      .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
      .join('[^/]+')
    return new RegExp(`^${source}$`).test(bare)
  })
  return template ?? bare
}

/**
 * Checks a real response against openapi.yaml: the route and status are documented, the media
 * type is the documented one, the JSON body validates against the schema, documented headers exist.
 * Throws with a readable reason otherwise.
 */
export async function checkResponse(
  method: string,
  requestPath: string,
  res: Response,
): Promise<void> {
  const path = documentedPath(requestPath)
  const paths = doc.paths as Record<string, Json>
  const op = paths[path]?.[method.toLowerCase()] as Json | undefined
  if (!op) throw new Error(`openapi.yaml does not document ${method} ${path}`)
  const responses = op.responses as Record<string, Json>
  const status = String(res.status)
  const documented = responses[status]
  if (!documented) throw new Error(`openapi.yaml does not document status ${status} for ${method} ${path}`)
  seen.add(`${method.toUpperCase()} ${path} ${status}`)
  const response = deref(documented)
  for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
    const value = res.headers.get(name)
    // A header documented with `required: false` may be absent; when present it must validate.
    if (value === null && deref(header).required === false) continue
    if (value === null) throw new Error(`${method} ${path} ${status}: missing documented header ${name}`)
    const schema = deref(header).schema as Json | undefined
    if (schema && !ajv.validate(schema, value)) {
      throw new Error(`${method} ${path} ${status}: header ${name}=${value} ${ajv.errorsText()}`)
    }
  }
  const content = response.content as Record<string, Json> | undefined
  if (!content) return
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim()
  if (!content[type]) throw new Error(`${method} ${path} ${status}: undocumented content-type ${type}`)
  if (type !== 'application/json') return
  const body: unknown = await res.clone().json()
  const statusKey = typeof documented.$ref === 'string' ? null : status
  const schemaPath = statusKey
    ? ['paths', path, method.toLowerCase(), 'responses', statusKey, 'content', type, 'schema']
    : [...(documented.$ref as string).replace(/^#\//, '').split('/'), 'content', type, 'schema']
  const validate = ajv.getSchema(pointer(schemaPath))
  if (!validate) throw new Error(`cannot compile schema at ${schemaPath.join('/')}`)
  if (!validate(body)) {
    throw new Error(
      `${method} ${path} ${status}: body does not match openapi.yaml: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
    )
  }
}
