/**
 * Whether approval requests may be announced to `value`: an https URL, or http only to this
 * machine (`localhost`, `127.0.0.1`, `[::1]`), so notices never cross a network in the clear.
 */
export function isWebhookUrl(value: string): boolean {
  try {
    const url = new URL(value)
    const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
    return url.protocol === 'https:' || (url.protocol === 'http:' && local)
  } catch {
    return false
  }
}
