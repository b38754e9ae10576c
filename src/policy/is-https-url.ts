/**
 * Whether `value` is an https URL, or an http one only to this machine (`localhost`, `127.0.0.1`,
 * `[::1]`): what writ calls out to (webhooks, identity providers' keys) never crosses a network in
 * the clear.
 */
export function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value)
    const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
    return url.protocol === 'https:' || (url.protocol === 'http:' && local)
  } catch {
    return false
  }
}
