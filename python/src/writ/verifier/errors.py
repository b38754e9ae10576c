"""``VerifierError``: why a token was refused, with ``writ/verifier``'s stable codes and challenges."""

from __future__ import annotations

import json
import re
from typing import Dict, Optional, Sequence

__all__ = ["VerifierError"]

_STATUS = {
    "invalid_request": 400,
    "invalid_token": 401,
    "token_expired": 401,
    "token_revoked": 401,
    "audience_mismatch": 401,
    "issuer_mismatch": 401,
    "insufficient_scope": 403,
    "invalid_dpop_proof": 401,
    "use_dpop_nonce": 401,
    "liveness_unavailable": 503,
}

_CHALLENGE = {
    "invalid_request": "invalid_request",
    "invalid_token": "invalid_token",
    "token_expired": "invalid_token",
    "token_revoked": "invalid_token",
    "audience_mismatch": "invalid_token",
    "issuer_mismatch": "invalid_token",
    "insufficient_scope": "insufficient_scope",
    "invalid_dpop_proof": "invalid_dpop_proof",
    "use_dpop_nonce": "use_dpop_nonce",
}

_UNQUOTABLE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def _quoted(value: str) -> str:
    # RFC 6750 §3: a quoted-string without " or \ or anything outside printable ASCII.
    return '"' + _UNQUOTABLE.sub("", value) + '"'


class VerifierError(Exception):
    """A refused token. ``code`` is one of: ``invalid_request``, ``invalid_token``,
    ``token_expired``, ``token_revoked``, ``audience_mismatch``, ``issuer_mismatch``,
    ``insufficient_scope``, ``invalid_dpop_proof``, ``use_dpop_nonce``, ``liveness_unavailable``
    (the grant store cannot be asked: refused, fail closed). ``status`` is the HTTP status to
    answer; ``headers()`` the ``WWW-Authenticate`` (RFC 6750 §3, RFC 9449 §7.1), ``Retry-After`` or
    ``DPoP-Nonce`` to send. The message never contains the token."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        scheme: Optional[str] = None,
        missing_credentials: bool = False,
        dpop_nonce: Optional[str] = None,
    ) -> None:
        if code not in _STATUS:
            raise ValueError(f"unknown verifier error code {code}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = _STATUS[code]
        dpop = code in ("invalid_dpop_proof", "use_dpop_nonce")
        self.scheme = scheme or ("DPoP" if dpop else "Bearer")
        self.missing_credentials = missing_credentials
        self.dpop_nonce = dpop_nonce

    def with_scheme(self, scheme: str) -> "VerifierError":
        err = VerifierError(self.code, self.message, scheme=scheme, missing_credentials=self.missing_credentials, dpop_nonce=self.dpop_nonce)
        err.__cause__ = self.__cause__
        return err

    def www_authenticate(self, realm: Optional[str] = None, dpop_algorithms: Sequence[str] = ()) -> Optional[str]:
        error = _CHALLENGE.get(self.code)
        if error is None:
            return None
        realm_part = [f"realm={_quoted(realm)}"] if realm is not None else []
        algs = [f"algs={_quoted(' '.join(dpop_algorithms))}"] if dpop_algorithms else []
        if self.missing_credentials:
            bearer = "Bearer " + ", ".join(realm_part) if realm_part else "Bearer"
            dpop = realm_part + algs
            return f"{bearer}, " + ("DPoP " + ", ".join(dpop) if dpop else "DPoP")
        params = realm_part + (algs if self.scheme == "DPoP" else [])
        params += [f"error={_quoted(error)}", f"error_description={_quoted(self.message)}"]
        return f"{self.scheme} " + ", ".join(params)

    def headers(self, realm: Optional[str] = None, dpop_algorithms: Sequence[str] = ()) -> Dict[str, str]:
        out = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        challenge = self.www_authenticate(realm, dpop_algorithms)
        if challenge is not None:
            out["WWW-Authenticate"] = challenge
        if self.status == 503:
            out["Retry-After"] = "1"
        if self.dpop_nonce is not None:
            out["DPoP-Nonce"] = self.dpop_nonce
        return out

    def body(self) -> bytes:
        return json.dumps({"error": _CHALLENGE.get(self.code, "temporarily_unavailable"), "error_description": self.message}).encode()
