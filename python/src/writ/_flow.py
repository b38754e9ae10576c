"""The token request as a sans-I/O generator, driven by the sync and the asyncio client alike.

It yields ``HttpRequest`` (and receives an ``HttpResponse``) or ``Sleep`` (and receives None), and
returns the result. All protocol decisions live here once: which endpoint, client authentication,
DPoP proofs and nonce retry, CIBA polling with ``interval`` and ``slow_down``, deadlines, errors.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generator, List, Mapping, Optional, Union
from urllib.parse import quote_plus, urlencode

import jwt

from ._jwk import PrivateKey, algorithm_of
from .dpop import DpopKey, create_dpop_proof
from .errors import WritClientError

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class ClientSecret:
    """A client registered with ``auth: client_secret``: HTTP Basic (RFC 6749 §2.3.1)."""

    client_id: str
    client_secret: str


@dataclass(frozen=True)
class PrivateKeyJwt:
    """A client registered with ``auth: private_key_jwt``: signed assertions (RFC 7523 §2.2)."""

    client_id: str
    private_key: PrivateKey
    key_id: Optional[str] = None
    algorithm: Optional[str] = None


Credentials = Union[ClientSecret, PrivateKeyJwt]


@dataclass(frozen=True)
class PendingApproval:
    """Reported once when the request waits for a human: show ``approval_uri`` to an approver."""

    auth_req_id: str
    expires_in: int
    interval: int
    approval_uri: Optional[str] = None


@dataclass(frozen=True)
class TokenResult:
    access_token: str
    token_type: str
    expires_in: int
    scope: str
    grant_id: str
    authorization_details: List[Dict[str, Any]] = field(default_factory=list)


@dataclass
class HttpRequest:
    method: str
    url: str
    headers: Dict[str, str]
    body: bytes


@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Sleep:
    seconds: float


Step = Union[HttpRequest, Sleep]
Flow = Generator[Step, Optional[HttpResponse], Any]


def _form_encode(value: str) -> str:
    # RFC 6749 §2.3.1: client id and secret are form-encoded before Basic.
    return quote_plus(value, safe="")


class _Client:
    """Client authentication and DPoP for one broker."""

    def __init__(self, broker: str, credentials: Credentials, dpop_key: Optional[DpopKey], now: Callable[[], float]):
        if not isinstance(credentials, (ClientSecret, PrivateKeyJwt)):
            raise TypeError("credentials: a ClientSecret or a PrivateKeyJwt")
        self.base = str(broker).rstrip("/")
        self.credentials = credentials
        self.dpop_key = dpop_key
        self.now = now
        self.nonce: Optional[str] = None

    def auth_params(self) -> Dict[str, str]:
        c = self.credentials
        if not isinstance(c, PrivateKeyJwt):
            return {}
        iat = int(self.now())
        alg = c.algorithm or algorithm_of(c.private_key)
        headers = {"kid": c.key_id} if c.key_id else None
        assertion = jwt.encode(
            {
                "iss": c.client_id,
                "sub": c.client_id,
                "aud": f"{self.base}/oauth/token",
                "iat": iat,
                "exp": iat + 60,
                "jti": str(uuid.uuid4()),
            },
            c.private_key,
            algorithm=alg,
            headers=headers,
        )
        return {"client_id": c.client_id, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}

    def form(self, params: Mapping[str, str]) -> bytes:
        """A form body with this client's authentication parameters (a fresh assertion each time)."""
        return urlencode({**params, **self.auth_params()}).encode("ascii")

    def post(
        self, path: str, body: Callable[[], bytes], content_type: str, proof_in_body: bool = False
    ) -> Generator[Step, Optional[HttpResponse], HttpResponse]:
        """POSTs ``body()``; it is built again for a retry, so a client assertion is never replayed.
        ``proof_in_body``: ``body()`` carries a DPoP proof of its own, made with ``self.nonce``, so a
        nonce request is retried even without a ``DPoP`` header."""
        url = f"{self.base}{path}"
        attempt = 0
        while True:
            headers = {"content-type": content_type, "accept": "application/json"}
            c = self.credentials
            if isinstance(c, ClientSecret):
                pair = f"{_form_encode(c.client_id)}:{_form_encode(c.client_secret)}"
                headers["authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
            if self.dpop_key is not None:
                headers["dpop"] = create_dpop_proof(self.dpop_key, "POST", url, nonce=self.nonce, now=self.now())
            res = yield HttpRequest("POST", url, headers, body())
            assert res is not None
            asked = res.headers.get("dpop-nonce")
            # RFC 9449 §8: the server wants a nonce in the proof; retry once with it.
            if (self.dpop_key is not None or proof_in_body) and asked and res.status == 400 and attempt == 0:
                if _json_or_empty(res).get("error") == "use_dpop_nonce":
                    self.nonce = asked
                    attempt += 1
                    continue
            if asked:
                self.nonce = asked
            return res


def _json_or_empty(res: HttpResponse) -> Dict[str, Any]:
    try:
        value = json.loads(res.body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _read_json(res: HttpResponse) -> Dict[str, Any]:
    try:
        value = json.loads(res.body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise WritClientError("unexpected_response", f"the broker answered {res.status} with a non-JSON body", res.status)
    return value


def _error_from(res: HttpResponse, body: Mapping[str, Any]) -> WritClientError:
    code = body.get("error") if isinstance(body.get("error"), str) else "unexpected_response"
    description = body.get("error_description")
    return WritClientError(str(code), description if isinstance(description, str) else f"HTTP {res.status}", res.status)


def _result(body: Mapping[str, Any]) -> TokenResult:
    token = body.get("access_token")
    if not isinstance(token, str):
        raise WritClientError("unexpected_response", "the token response has no access_token")
    details = body.get("authorization_details")
    return TokenResult(
        access_token=token,
        token_type="DPoP" if body.get("token_type") == "DPoP" else "Bearer",
        expires_in=int(body.get("expires_in", 0)),
        scope=str(body.get("scope", "")),
        grant_id=str(body.get("grant_id", "")),
        authorization_details=list(details) if isinstance(details, list) else [],
    )


def _pending(body: Mapping[str, Any]) -> PendingApproval:
    uri = body.get("approval_uri")
    return PendingApproval(
        auth_req_id=str(body["auth_req_id"]),
        expires_in=int(body.get("expires_in", 0)),
        interval=int(body.get("interval", 5)),
        approval_uri=uri if isinstance(uri, str) else None,
    )


def token_flow(
    broker: str,
    credentials: Credentials,
    manifest: Mapping[str, Any],
    dpop_key: Optional[DpopKey],
    on_pending: Optional[Callable[[PendingApproval], Any]],
    timeout: Optional[float],
    now: Callable[[], float] = time.time,
) -> Flow:
    """See ``writ.request_token``."""
    if not isinstance(manifest, Mapping) or not isinstance(manifest.get("task"), Mapping):
        raise TypeError("manifest: a mapping with task, grants and optionally ttl")
    client = _Client(broker, credentials, dpop_key, now)
    started = now()
    give_up = started + timeout if timeout is not None else None
    secret = isinstance(credentials, ClientSecret)

    if secret:
        payload = json.dumps(manifest).encode("utf-8")
        res = yield from client.post("/v1/tokens", lambda: payload, "application/json")
        body = _read_json(res)
        if res.status == 200:
            return _result(body)
        if res.status != 202:
            raise _error_from(res, body)
        pending = _pending(body)
        if on_pending is not None:
            on_pending(pending)
    else:
        task = manifest["task"]
        params = {"task_id": str(task["id"]), "authorization_details": json.dumps(manifest.get("grants", []))}
        for name, key in (("purpose", "task_purpose"), ("requested_by", "requested_by")):
            if task.get(name) is not None:
                params[key] = str(task[name])
        if manifest.get("ttl") is not None:
            params["ttl"] = str(manifest["ttl"])
        res = yield from client.post("/oauth/bc-authorize", lambda: client.form(params), "application/x-www-form-urlencoded")
        body = _read_json(res)
        if res.status != 200:
            raise _error_from(res, body)
        pending = _pending(body)
        # An auto-approvable request is redeemable at once: the wait is reported only when the
        # first poll says a human is needed.

    reported = secret
    deadline = now() + pending.expires_in
    interval = max(1, pending.interval)
    first = not secret
    while True:
        if not first:
            if give_up is not None and now() + interval > give_up:
                raise WritClientError("timeout", f"no token within the {timeout:g} s timeout; the approval is still pending")
            yield Sleep(interval)
        first = False
        poll = {"grant_type": CIBA_GRANT, "auth_req_id": pending.auth_req_id}
        res = yield from client.post("/oauth/token", lambda: client.form(poll), "application/x-www-form-urlencoded")
        body = _read_json(res)
        if res.status == 200:
            return _result(body)
        code = body.get("error")
        if code in ("authorization_pending", "slow_down"):
            if not reported:
                reported = True
                if on_pending is not None:
                    on_pending(pending)
            # CIBA §11: slow_down means add at least 5 seconds to the interval from now on.
            if code == "slow_down":
                interval += 5
            if now() + interval > deadline + 1:
                raise WritClientError("expired_token", "the approval request expired before anyone approved it", res.status)
            continue
        raise _error_from(res, body)


def revoke_flow(broker: str, credentials: Credentials, token: str, now: Callable[[], float] = time.time) -> Flow:
    """See ``writ.revoke``: RFC 7009 at ``/oauth/revoke``."""
    client = _Client(broker, credentials, None, now)
    params = {"token": token, "token_type_hint": "access_token"}
    res = yield from client.post("/oauth/revoke", lambda: client.form(params), "application/x-www-form-urlencoded")
    if res.status != 200:
        raise _error_from(res, _json_or_empty(res))
    return None
