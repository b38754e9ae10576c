/**
 * The pages' only script, served as a same-origin file (the CSP allows no inline script). It runs
 * the WebAuthn ceremony the page's `data-ceremony` names: asks the broker for options, calls
 * `navigator.credentials.create` (enrol) or `.get` (approve, deny, consent, inbox sign-in), and
 * posts the JSON-encoded credential back; after a consent or a decline it follows the broker's
 * `redirect_to`. Only the inbox's sign-in and sign-out send or accept cookies (its session); every
 * other post omits them. It holds no secrets and decides nothing: every check is on the server.
 */
export const CEREMONY_SCRIPT = `'use strict';
(function () {
  var body = document.body;
  var base = body.dataset.base;
  var ceremony = body.dataset.ceremony;
  var result = document.getElementById('result');
  var buttons = Array.prototype.slice.call(document.querySelectorAll('button[data-action]'));

  function say(text, kind) { result.textContent = text; result.dataset.kind = kind || ''; }
  function enc(buffer) {
    var bytes = new Uint8Array(buffer), s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  }
  function dec(text) {
    var s = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4));
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  function post(path, payload, withCookies) {
    return fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      credentials: withCookies ? 'same-origin' : 'omit',
      cache: 'no-store'
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (json) {
        if (!res.ok) throw new Error(json.error_description || ('HTTP ' + res.status));
        return json;
      });
    });
  }
  function descriptors(list) {
    return (list || []).map(function (c) { return { type: 'public-key', id: dec(c.id), transports: c.transports }; });
  }
  /** Asks the key for an assertion over the broker's options, JSON-encoded as the broker takes it. */
  function ask(o) {
    return navigator.credentials.get({ publicKey: {
      challenge: dec(o.challenge), rpId: o.rpId, timeout: o.timeout,
      userVerification: o.userVerification, allowCredentials: descriptors(o.allowCredentials)
    } }).then(function (cred) {
      var r = cred.response, response = {
        clientDataJSON: enc(r.clientDataJSON), authenticatorData: enc(r.authenticatorData), signature: enc(r.signature)
      };
      if (r.userHandle) response.userHandle = enc(r.userHandle);
      return {
        id: cred.id, rawId: enc(cred.rawId), type: cred.type, response: response,
        clientExtensionResults: cred.getClientExtensionResults()
      };
    });
  }

  function enrol() {
    return post('/options', {}).then(function (o) {
      return navigator.credentials.create({ publicKey: {
        challenge: dec(o.challenge), rp: o.rp,
        user: { id: dec(o.user.id), name: o.user.name, displayName: o.user.displayName },
        pubKeyCredParams: o.pubKeyCredParams, timeout: o.timeout, attestation: o.attestation,
        excludeCredentials: descriptors(o.excludeCredentials), authenticatorSelection: o.authenticatorSelection
      } });
    }).then(function (cred) {
      var r = cred.response;
      return post('/verify', {
        id: cred.id, rawId: enc(cred.rawId), type: cred.type,
        response: {
          clientDataJSON: enc(r.clientDataJSON), attestationObject: enc(r.attestationObject),
          transports: r.getTransports ? r.getTransports() : []
        },
        clientExtensionResults: cred.getClientExtensionResults()
      });
    }).then(function (out) {
      say('Security key enrolled for ' + out.approver + ' (' + out.fmt + ' attestation, model ' + out.aaguid + ').', 'ok');
      buttons.forEach(function (b) { b.hidden = true; });
    });
  }

  function decide(action) {
    return post('/options', { action: action }).then(ask).then(function (signed) {
      return post(action === 'approve' ? '/verify' : '/deny', signed);
    }).then(function (out) {
      var state = document.getElementById('state');
      if (out.status === 'denied') say('You denied this request.', 'ok');
      else if (out.status === 'approved') say('Approved by ' + out.approver + '. The agent can now collect its token.', 'ok');
      else say('Your approval is recorded (' + out.approvals + ' so far). Waiting for another approver.', 'ok');
      if (out.status !== 'denied') {
        Array.prototype.forEach.call(document.querySelectorAll('[data-progress]'), function (el) { el.textContent = String(out.approvals); });
      }
      if (state && out.status !== 'pending') { state.textContent = out.status === 'denied' ? 'Denied' : 'Approved'; state.className = 'status status-' + out.status; }
      if (out.status !== 'pending') buttons.forEach(function (b) { b.hidden = true; });
    });
  }

  function consent(action) {
    if (action === 'decline') {
      return post('/decline', {}).then(function (out) {
        say('Declined. Returning to the application…', 'ok');
        window.location.assign(out.redirect_to);
      });
    }
    return post('/options', {}).then(ask).then(function (signed) {
      return post('/consent', signed);
    }).then(function (out) {
      say('Allowed. Returning to the application…', 'ok');
      buttons.forEach(function (b) { b.hidden = true; });
      window.location.assign(out.redirect_to);
    });
  }

  function signIn(action) {
    if (action === 'sign-out') {
      return post('/sign-out', {}, true).then(function () { window.location.assign('/approve'); });
    }
    return post('/options', {}).then(ask).then(function (signed) {
      return post('/verify', signed, true);
    }).then(function (out) {
      say('Signed in as ' + out.approver + '. Loading your inbox…', 'ok');
      window.location.assign('/approve');
    });
  }

  // Ensure the approver learns at once when this page cannot run a ceremony at all: WebAuthn
  // needs a secure context (https, or http://localhost) and a browser that supports it.
  if (!window.isSecureContext || !window.PublicKeyCredential) {
    say(!window.isSecureContext
      ? 'Security keys cannot work on this address (' + location.origin + '): WebAuthn needs https, or http://localhost. Open the broker at its configured address.'
      : 'This browser does not support security keys (WebAuthn).', 'error');
    buttons.forEach(function (b) { b.disabled = true; });
    return;
  }

  buttons.forEach(function (button) {
    button.addEventListener('click', function () {
      if (!window.PublicKeyCredential) { say('This browser does not support security keys (WebAuthn).', 'error'); return; }
      buttons.forEach(function (b) { b.disabled = true; });
      say('Touch your security key…');
      var run = ceremony === 'enroll' ? enrol()
        : ceremony === 'consent' ? consent(button.dataset.action)
        : ceremony === 'sign-in' || ceremony === 'inbox' ? signIn(button.dataset.action)
        : decide(button.dataset.action);
      run.catch(function (err) {
        say((err && err.message) || String(err), 'error');
      }).then(function () { buttons.forEach(function (b) { b.disabled = false; }); });
    });
  });
})();
`
