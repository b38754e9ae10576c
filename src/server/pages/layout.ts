import type { Context } from 'hono'
import { html, SafeHtml } from './html.js'
import { PAGE_CSS, PAGE_CSS_HASH } from './styles.js'

/** The stylesheet is a constant of this module, so it is inserted as is (the CSP pins its hash). */
const STYLE = new SafeHtml(PAGE_CSS)

/** Where the pages' one script is served (same origin: the CSP allows nothing else). */
export const CEREMONY_SCRIPT_PATH = '/approve/ceremony.js'

/**
 * Security headers of every page: a CSP that allows no inline script (the one script is a
 * same-origin file), the one inline stylesheet by hash, nothing external, no framing, no forms;
 * framing also denied for old browsers; no referrer (enrolment URLs carry a secret); no caching.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    "script-src 'self'",
    `style-src ${PAGE_CSS_HASH}`,
    "connect-src 'self'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cache-Control': 'no-store',
}

export interface PageOptions {
  title: string
  body: SafeHtml
  /** Shown as a red banner at the top: dev-mode attestation. */
  warning?: string | undefined
  /** `data-*` attributes on <body> for the script (values are escaped). */
  data?: Record<string, string>
  /** Load the ceremony script. */
  script?: boolean
}

/** A complete page: readable on a phone, no external assets. */
export function renderPage(options: PageOptions): string {
  const data = Object.entries(options.data ?? {}).map(([name, value]) => html` data-${name}="${value}"`)
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · writ</title>
<style>${STYLE}</style>
${options.script ? html`<script src="${CEREMONY_SCRIPT_PATH}" defer></script>` : ''}
</head>
<body${data}>
<main>
${options.warning ? html`<p class="banner" role="alert">${options.warning}</p>` : ''}
${options.body}
</main>
</body>
</html>
`.value
}

/** Answers a page with its security headers. */
export function pageResponse(c: Context, page: string, status: 200 | 400 | 404 | 409 = 200): Response {
  return c.html(page, status, PAGE_HEADERS)
}
