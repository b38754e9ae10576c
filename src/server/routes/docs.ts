import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Context } from 'hono'
import { WritError } from '../../errors.js'

/**
 * `GET /docs`: the API reference, rendered in the browser by Swagger UI (swagger-ui-dist) from the
 * `/openapi.yaml` this broker serves. Every asset comes from writ itself: the page, Swagger UI's
 * script and stylesheet (from the installed package), and a same-origin start script. The CSP
 * allows scripts and styles from this origin only (no inline script, no inline stylesheet, no
 * eval), images from this origin and `data:` (the stylesheet's icons), fetches to this origin
 * only; Swagger UI's online validator is off and "Try it out" sends nothing (a read-only reference).
 */
export const DOCS_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cache-Control': 'no-cache',
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>API reference · writ</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<script src="/docs/assets/swagger-ui-bundle.js" defer></script>
<script src="/docs/assets/start.js" defer></script>
</head>
<body>
<div id="swagger-ui"></div>
</body>
</html>
`

/** Swagger UI started on the served document: no validator badge, no request sent from the page. */
const START_SCRIPT = `'use strict'
window.addEventListener('DOMContentLoaded', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.yaml',
    dom_id: '#swagger-ui',
    validatorUrl: null,
    deepLinking: false,
    supportedSubmitMethods: [],
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
  })
})
`

/** The files of swagger-ui-dist the page loads, by the name it loads them under. */
const PACKAGE_FILES: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
}

const packageDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
const cache = new Map<string, string>()

export function docsPageRoute(c: Context): Response {
  return c.html(PAGE, 200, DOCS_HEADERS)
}

/** `GET /docs/assets/{file}`: Swagger UI's script and stylesheet, and the start script. */
export function docsAssetRoute(c: Context): Response {
  const name = c.req.param('file') ?? ''
  const headers = { 'Cache-Control': 'public, max-age=3600', 'X-Content-Type-Options': 'nosniff' }
  if (name === 'start.js') {
    return c.body(START_SCRIPT, 200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' })
  }
  const type = Object.hasOwn(PACKAGE_FILES, name) ? PACKAGE_FILES[name] : undefined
  if (!type) throw new WritError('not_found', 404, `no docs asset ${name}`)
  let body = cache.get(name)
  if (body === undefined) {
    // Without its source map comment: the map is not served, and browsers would ask for it.
    body = readFileSync(join(packageDir, name), 'utf8').replace(/\n\/[*/]# sourceMappingURL=\S+( \*\/)?\s*$/, '\n')
    cache.set(name, body)
  }
  return c.body(body, 200, { ...headers, 'Content-Type': type })
}
