import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { completeSignIn } from '../../approvals/inbox/complete-sign-in.js'
import type { InboxDeps } from '../../approvals/inbox/deps.js'
import { endSession } from '../../approvals/inbox/end-session.js'
import { findSession } from '../../approvals/inbox/find-session.js'
import { listInbox } from '../../approvals/inbox/list-inbox.js'
import { startSignIn } from '../../approvals/inbox/start-sign-in.js'
import { epochSeconds } from '../../clock.js'
import type { AppDeps } from '../deps.js'
import { DEV_WARNING } from '../pages/approve-page.js'
import { renderInboxPage, renderSignInPage } from '../pages/inbox-page.js'
import { pageResponse } from '../pages/layout.js'
import { readCeremonyJson } from './approve-json.js'

const NO_STORE = { 'Cache-Control': 'no-store' }

/**
 * The session cookie: `__Host-writ_inbox` (Secure, Path=/) when approvers use https, else
 * `writ_inbox` on Path=/approve (http://localhost trials); always HttpOnly and SameSite=Strict,
 * so no script reads it and no other site's page sends it.
 */
function sessionCookie(inbox: InboxDeps): { name: string; secure: boolean; path: string } {
  const secure = inbox.approvals.settings.origin.startsWith('https://')
  return secure ? { name: '__Host-writ_inbox', secure, path: '/' } : { name: 'writ_inbox', secure, path: '/approve' }
}

const devWarning = (deps: AppDeps): string | undefined =>
  deps.approvals.attestation.mode === 'relaxed' ? DEV_WARNING : undefined

/** `GET /approve`: the inbox of the signed-in approver, or the sign-in page (HTML). */
export function inboxPageRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const cookie = sessionCookie(deps.inbox)
    const session = await findSession(deps.inbox, getCookie(c, cookie.name))
    if (!session) return pageResponse(c, renderSignInPage(devWarning(deps)))
    const items = await listInbox(deps.inbox, session.sub)
    return pageResponse(c, renderInboxPage(session.sub, items, session.expiresAt, deps.clock(), devWarning(deps)))
  }
}

/** `POST /approve/sign-in/options` with `{}`: WebAuthn request options for an inbox sign-in. */
export function inboxSignInOptionsRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    await readCeremonyJson(c, deps)
    return c.json(await startSignIn(deps.inbox), 200, NO_STORE)
  }
}

/**
 * `POST /approve/sign-in/verify`: the body is the `PublicKeyCredential` from
 * `navigator.credentials.get`, JSON-encoded. Sets the session cookie and answers
 * `{approver, expires_at}`.
 */
export function inboxSignInRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const body = await readCeremonyJson(c, deps)
    const { token, session } = await completeSignIn(deps.inbox, body)
    const cookie = sessionCookie(deps.inbox)
    setCookie(c, cookie.name, token, {
      path: cookie.path,
      secure: cookie.secure,
      httpOnly: true,
      sameSite: 'Strict',
      maxAge: Math.max(1, session.expiresAt - epochSeconds(deps.clock)),
    })
    return c.json({ approver: session.sub, expires_at: session.expiresAt }, 200, NO_STORE)
  }
}

/** `POST /approve/sign-out` with `{}`: ends the session and clears its cookie. */
export function inboxSignOutRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    await readCeremonyJson(c, deps)
    const cookie = sessionCookie(deps.inbox)
    await endSession(deps.inbox, getCookie(c, cookie.name))
    deleteCookie(c, cookie.name, { path: cookie.path, secure: cookie.secure, httpOnly: true, sameSite: 'Strict' })
    return c.json({ signed_out: true }, 200, NO_STORE)
  }
}
