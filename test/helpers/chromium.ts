import { type Browser, chromium } from 'playwright-core'

/**
 * Debian's Chromium, headless, driven by playwright-core (never a downloaded browser): no
 * background traffic, no QUIC, and `localhost` resolved to 127.0.0.1, where the tests' brokers
 * listen (WebAuthn needs a secure context: https, or http://localhost).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP localhost 127.0.0.1',
    ],
  })
}
