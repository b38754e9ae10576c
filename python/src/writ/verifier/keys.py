"""The issuer's signing keys, from a fixed JWKS or its ``jwks_uri``: an unknown ``kid`` refetches
the set at most once per cooldown, so rotation needs no restart and made-up kids cannot turn into
a flood of fetches. Announcements on the revocation channel withdraw kids at once."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import httpx
from jwt import PyJWK

from .errors import VerifierError

__all__ = ["KeyResolver"]

_PUBLIC_MEMBERS = ("kty", "crv", "x", "y", "n", "e")
_FIRST_LOAD_RETRY_SECONDS = 1.0
_BY_KEY = {
    ("EC", "P-256"): ["ES256"],
    ("EC", "P-384"): ["ES384"],
    ("EC", "P-521"): ["ES512"],
    ("OKP", "Ed25519"): ["EdDSA"],
}
_RSA = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]


def _algorithms_for(jwk: Mapping[str, Any], allowed: Sequence[str]) -> List[str]:
    if isinstance(jwk.get("alg"), str):
        return [jwk["alg"]] if jwk["alg"] in allowed else []
    by_key = _RSA if jwk.get("kty") == "RSA" else _BY_KEY.get((jwk.get("kty"), jwk.get("crv")), [])
    return [a for a in by_key if a in allowed]


def _entries(value: Any, allowed: Sequence[str]) -> Dict[str, List[Tuple[Dict[str, str], List[str]]]]:
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise ValueError('a JWKS must be an object with a "keys" array')
    out: Dict[str, List[Tuple[Dict[str, str], List[str]]]] = {}
    for jwk in value["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        # Ensure only signature-verification keys with a kid are used; symmetric keys never are.
        if not isinstance(kid, str) or kid == "" or jwk.get("kty") not in ("EC", "OKP", "RSA"):
            continue
        if jwk.get("use") not in (None, "sig"):
            continue
        ops = jwk.get("key_ops")
        if ops is not None and not (isinstance(ops, list) and "verify" in ops):
            continue
        algorithms = _algorithms_for(jwk, allowed)
        if not algorithms:
            continue
        # Ensure a private member in a published key set is never used (or kept).
        public = {m: jwk[m] for m in _PUBLIC_MEMBERS if isinstance(jwk.get(m), str)}
        out.setdefault(kid, []).append((public, algorithms))
    return out


def _invalid(message: str) -> VerifierError:
    return VerifierError("invalid_token", message)


class KeyResolver:
    def __init__(
        self,
        *,
        algorithms: Sequence[str],
        jwks: Optional[Mapping[str, Any]] = None,
        jwks_uri: Optional[str] = None,
        http: Optional[httpx.Client] = None,
        clock: Callable[[], float] = time.time,
        cooldown_seconds: float = 30,
        max_age_seconds: float = 600,
        timeout_seconds: float = 5,
    ) -> None:
        self._algorithms = list(algorithms)
        self._uri = jwks_uri
        self._http = http
        self._clock = clock
        self._cooldown = cooldown_seconds
        self._max_age = max_age_seconds
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._entries: Optional[Dict[str, List[Tuple[Dict[str, str], List[str]]]]] = None
        self._fetched_at = float("-inf")
        self._last_attempt = float("-inf")
        self._withdrawn: Dict[str, float] = {}
        self._announced: set = set()
        self._imported: Dict[Tuple[str, str, str], Any] = {}
        self.fetches = 0
        self.version = 0
        if jwks is not None:
            self._entries = _entries(dict(jwks), self._algorithms)

    def _fetch(self) -> None:
        assert self._uri is not None
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            if self._http is not None:
                res = self._http.get(self._uri, timeout=self._timeout, headers={"accept": "application/json"})
            else:
                res = httpx.get(self._uri, timeout=self._timeout, headers={"accept": "application/json"})
            if res.status_code != 200:
                raise ValueError(f"GET {self._uri} answered {res.status_code}")
            fetched = _entries(res.json(), self._algorithms)
        except Exception as err:  # noqa: BLE001 - any failure leaves the known set as it was
            if self._entries is None:
                raise _invalid("the issuer's signing keys could not be fetched") from err
            return
        now = self._clock()
        self._withdrawn = {k: t for k, t in self._withdrawn.items() if t > now}
        # Ensure a withdrawn kid does not come back from a JWKS served before the change reached it.
        fetched = {k: v for k, v in fetched.items() if k not in self._withdrawn}
        if self._entries is None or fetched != self._entries:
            self.version += 1
        self._entries = fetched
        self._announced -= set(fetched)
        self._fetched_at = now

    def resolve(self, header: Mapping[str, Any]) -> Tuple[Any, str]:
        """The key (a ``cryptography`` public key) that must have signed a token with this header,
        and the algorithm to verify it with."""
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or kid == "":
            raise _invalid("the token header has no kid")
        if not isinstance(alg, str):
            raise _invalid("the token header has no alg")
        with self._lock:
            now = self._clock()
            if self._uri is not None:
                if self._entries is None:
                    if now - self._last_attempt < _FIRST_LOAD_RETRY_SECONDS and self._last_attempt > float("-inf"):
                        raise _invalid("the issuer's signing keys could not be fetched")
                    self._fetch()
                elif now - self._fetched_at > self._max_age:
                    self._fetch()
            entries = self._entries or {}
            if kid not in entries and self._uri is not None:
                wait = 1.0 if kid in self._announced else self._cooldown
                # Ensure unknown kids refetch at most once per cooldown.
                if now - self._last_attempt >= wait:
                    self._fetch()
                    entries = self._entries or {}
            if kid in self._withdrawn and self._withdrawn[kid] > now:
                raise _invalid(f"the token was signed with a withdrawn key ({kid})")
            candidates = [(jwk, algs) for jwk, algs in entries.get(kid, []) if alg in algs]
        if not candidates:
            raise _invalid(f"the token was signed with an unknown key (kid {kid})")
        if len(candidates) > 1:
            raise _invalid(f"the key set has several keys with kid {kid}")
        jwk, _ = candidates[0]
        cache_key = (kid, alg, str(sorted(jwk.items())))
        key = self._imported.get(cache_key)
        if key is None:
            try:
                key = PyJWK(jwk, algorithm=alg).key
            except Exception as err:  # noqa: BLE001
                raise _invalid(f"key {kid} cannot verify {alg}") from err
            self._imported[cache_key] = key
        return key, alg

    def keep_only(self, kids: Sequence[str]) -> None:
        """The issuer announced it publishes exactly ``kids`` from now on: every other kid is
        refused at once, and for ``max_age_seconds`` even if a JWKS still lists it."""
        with self._lock:
            until = self._clock() + self._max_age
            known = set(self._entries or {})
            for kid in known - set(kids):
                self._withdrawn[kid] = until
            if self._entries is not None:
                self._entries = {k: v for k, v in self._entries.items() if k in kids}
                self.version += 1
            self._announced |= set(kids) - known

    def refresh_soon(self) -> None:
        """After a lost subscription: the next unknown kid may refetch at once."""
        with self._lock:
            self._last_attempt = float("-inf")
            self._fetched_at = float("-inf")
