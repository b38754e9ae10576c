"""The resource-side DPoP check (RFC 9449 §4.3, §7), server nonces (§9) and the replay cache (§11.1)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence
from urllib.parse import urlsplit

import jwt
from jwt import PyJWK

from .._jwk import b64u, b64u_decode, thumbprint
from ..dpop import access_token_hash
from .errors import VerifierError

__all__ = ["DEFAULT_DPOP_ALGORITHMS", "DpopNonces", "ReplayCache", "verify_dpop_proof", "normalize_htu"]

DEFAULT_DPOP_ALGORITHMS = ("ES256", "EdDSA", "RS256", "PS256")
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256
_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_DOT_SEGMENTS = re.compile(r"(^|/)\.\.?(?=/|$)")


def _invalid(message: str) -> VerifierError:
    return VerifierError("invalid_dpop_proof", message)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4.
    out: list = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if path.endswith(("/.", "/..")):
        out.append("")
    return "/" + "/".join(out)


def normalize_htu(value: str) -> Optional[str]:
    """Scheme, host and path of an http(s) URL, without query or fragment, normalised (lower-case
    scheme and host, default port dropped, dot segments resolved); None for anything else."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 443 if scheme == "https" else 80
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{scheme}://{netloc}{_remove_dot_segments(parts.path or '/')}"


def _check_rsa_key(jwk: Mapping[str, Any]) -> None:
    if jwk.get("kty") != "RSA":
        return
    # Ensure the exponent is 65537: any other is unusual, and a large one is costly to check.
    if jwk.get("e") != "AQAB":
        raise _invalid('the DPoP proof jwk must be an RSA key with public exponent 65537 (e "AQAB")')
    n = jwk.get("n")
    bits = int.from_bytes(b64u_decode(n), "big").bit_length() if isinstance(n, str) and re.fullmatch(r"[A-Za-z0-9_-]+", n) else 0
    # Ensure the modulus is 2048 to 4096 bits: smaller is weak, larger only costs the server CPU.
    if bits < 2048 or bits > 4096:
        raise _invalid("the DPoP proof jwk must be an RSA key with a 2048 to 4096 bit modulus (n)")


@dataclass(frozen=True)
class DpopProof:
    jkt: str
    jti: str
    iat: float


class DpopNonces:
    """Stateless server nonces, the same format as ``writ/verifier``'s: ``<issue time, base 36>.
    <HMAC-SHA-256, 128 bits, base64url>``. Every instance sharing ``secret`` accepts the others'."""

    def __init__(self, secret: bytes, lifetime_seconds: int = 300, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(secret, (bytes, bytearray)) or len(secret) < 32:
            raise ValueError("the DPoP nonce secret must be at least 32 bytes")
        self._secret = bytes(secret)
        self._lifetime = lifetime_seconds
        self._clock = clock

    def _mac(self, time_part: str) -> bytes:
        return hmac.new(self._secret, f"writ-dpop-nonce.{time_part}".encode(), hashlib.sha256).digest()[:16]

    @staticmethod
    def _base36(n: int) -> str:
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"
        out = ""
        while True:
            n, r = divmod(n, 36)
            out = digits[r] + out
            if n == 0:
                return out

    def issue(self) -> str:
        time_part = self._base36(int(self._clock()))
        return f"{time_part}.{b64u(self._mac(time_part))}"

    def check(self, nonce: str) -> bool:
        match = re.fullmatch(r"([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})", nonce)
        if not match:
            return False
        issued, now = int(match.group(1), 36), int(self._clock())
        if issued < now - self._lifetime or issued > now + 5:
            return False
        return hmac.compare_digest(b64u_decode(match.group(2)), self._mac(match.group(1)))


class ReplayCache:
    """Proof ``jti``s seen within the replay window, budgeted per proof key and per client, so one
    key holder or client filling the cache only has its own new proofs refused."""

    def __init__(self, size: int, window_seconds: float, per_key: int, per_client: int) -> None:
        self.size, self.window, self.per_key, self.per_client = size, window_seconds, per_key, per_client
        self._entries: "OrderedDict[str, tuple]" = OrderedDict()
        self._by_key: Dict[str, int] = {}
        self._by_client: Dict[str, int] = {}
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        while self._entries:
            key, (expires, jkt, client) = next(iter(self._entries.items()))
            if expires > now:
                return
            self._entries.popitem(last=False)
            self._by_key[jkt] -= 1
            self._by_client[client] -= 1

    def take(self, jkt: str, jti: str, client: str, now: float) -> str:
        """``ok``, ``replayed`` or ``full``."""
        with self._lock:
            self._prune(now)
            key = f"{jkt}\0{jti}"
            if key in self._entries:
                return "replayed"
            if self._by_key.get(jkt, 0) >= self.per_key or self._by_client.get(client, 0) >= self.per_client:
                return "full"
            if len(self._entries) >= self.size:
                return "full"
            self._entries[key] = (now + self.window, jkt, client)
            self._by_key[jkt] = self._by_key.get(jkt, 0) + 1
            self._by_client[client] = self._by_client.get(client, 0) + 1
            return "ok"


def verify_dpop_proof(
    proof: str,
    *,
    method: str,
    url: str,
    access_token: Optional[str],
    algorithms: Sequence[str] = DEFAULT_DPOP_ALGORITHMS,
    max_age_seconds: float = 60,
    clock_tolerance_seconds: float = 5,
    clock: Callable[[], float] = time.time,
    nonces: Optional[DpopNonces] = None,
    expected_jkt: Optional[str] = None,
) -> DpopProof:
    """Verifies a DPoP proof per RFC 9449 §4.3. Raises ``VerifierError`` ``invalid_dpop_proof``, or
    ``use_dpop_nonce`` (carrying a fresh nonce) when only the server nonce is missing or stale."""
    # Ensure one compact JWT of reasonable size.
    if not isinstance(proof, str) or not proof or len(proof) > MAX_PROOF_LENGTH:
        raise _invalid("the DPoP proof is missing or too long")
    if not _COMPACT.match(proof):
        raise _invalid("the DPoP header must hold exactly one compact JWT")
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError as err:
        raise _invalid("the DPoP proof is invalid: malformed header") from err
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ("dpop+jwt", "application/dpop+jwt"):
        raise _invalid('the DPoP proof is invalid: typ must be "dpop+jwt"')
    alg = header.get("alg")
    # Ensure an allowed asymmetric algorithm: never none, never HS*.
    if alg not in algorithms:
        raise _invalid("the DPoP proof is invalid: its alg is not allowed")
    # Ensure no header points at a key elsewhere, or asks for extensions we do not process.
    for name in ("jku", "x5u", "x5c", "crit"):
        if name in header:
            raise _invalid(f"the DPoP proof must not carry a {name} header")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise _invalid("the DPoP proof has no jwk header")
    # Ensure the embedded key is public.
    if any(m in jwk for m in _PRIVATE_MEMBERS):
        raise _invalid("the DPoP proof jwk must be a public key")
    _check_rsa_key(jwk)
    try:
        jkt = thumbprint(jwk)
    except ValueError as err:
        raise _invalid(f"the DPoP proof jwk is invalid: {err}") from err
    # Ensure the key is the one the token is bound to before its signature costs anything.
    if expected_jkt is not None and jkt != expected_jkt:
        raise _invalid("the DPoP proof was signed with a key the token is not bound to")
    try:
        key = PyJWK(jwk, algorithm=alg).key
        payload = jwt.decode(
            proof,
            key=key,
            algorithms=[alg],
            options={"verify_aud": False, "verify_iss": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as err:
        raise _invalid(f"the DPoP proof is invalid: {err}") from err
    except Exception as err:  # noqa: BLE001 - a key the library cannot use is an invalid proof
        raise _invalid("the DPoP proof jwk is invalid") from err

    for name in ("jti", "htm", "htu", "iat"):
        if name not in payload:
            raise _invalid(f"the DPoP proof is invalid: missing {name} claim")
    jti, htm, htu, iat = payload["jti"], payload["htm"], payload["htu"], payload["iat"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise _invalid(f"the DPoP proof jti must be a string of 1 to {MAX_JTI_LENGTH} characters")
    if htm != method:
        raise _invalid(f"the DPoP proof was made for another method (htm {json.dumps(htm)})")
    expected = normalize_htu(url)
    if expected is None:
        raise _invalid("the request URL cannot be compared with htu")
    if not isinstance(htu, str) or normalize_htu(htu) != expected:
        raise _invalid("the DPoP proof was made for another URL (htu)")
    now = clock()
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise _invalid("the DPoP proof iat must be a number")
    if iat > now + clock_tolerance_seconds:
        raise _invalid("the DPoP proof iat is in the future")
    if iat < now - max_age_seconds - clock_tolerance_seconds:
        raise _invalid("the DPoP proof is too old (iat)")
    # Ensure the proof was made for this access token (RFC 9449 §4.3 check 12).
    if access_token is not None:
        ath = payload.get("ath")
        if not isinstance(ath, str):
            raise _invalid("the DPoP proof has no ath for the access token")
        if not hmac.compare_digest(ath, access_token_hash(access_token)):
            raise _invalid("the DPoP proof was made for another access token (ath)")
    if nonces is not None:
        nonce = payload.get("nonce")
        if not isinstance(nonce, str) or not nonces.check(nonce):
            raise VerifierError(
                "use_dpop_nonce",
                "the DPoP proof must carry the server nonce from the DPoP-Nonce header"
                if nonce is None
                else "the DPoP proof nonce is stale or unknown; use the one from the DPoP-Nonce header",
                dpop_nonce=nonces.issue(),
            )
    return DpopProof(jkt=jkt, jti=jti, iat=float(iat))
