import { html } from './html.js'
import { renderPage } from './layout.js'

/** A page that only says something (an unknown approval request, a used invite). */
export function renderMessagePage(title: string, message: string, warning?: string): string {
  return renderPage({ title, body: html`<h1>${title}</h1><p>${message}</p>`, warning })
}
