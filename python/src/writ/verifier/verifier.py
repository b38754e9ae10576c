"""``Verifier``: the checks of ``writ/verifier`` for Python services (RFC 9068, RFC 8725, RFC 9449)."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

import httpx
import jwt

from .._jwk import b64u
from .authorize import authorize
from .dpop import DEFAULT_DPOP_ALGORITHMS, DpopNonces, ReplayCache, verify_dpop_proof
from .errors import VerifierError
from .keys import KeyResolver
from .liveness import Liveness, NoLiveness

__all__ = ["Verifier", "DpopOptions", "DEFAULT_ALGORITHMS"]

DEFAULT_ALGORITHMS = ("ES256", "EdDSA")
_ASYMMETRIC = {"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
MAX_TOKEN_LENGTH = 16 * 1024
_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_AUTHORIZATION = re.compile(r"^([A-Za-z]+) +([A-Za-z0-9\-._~+/]+=*)$")
_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
_DPOP_REPLAYED = "the DPoP proof was already used; make a new one per request"


@dataclass(frozen=True)
class DpopOptions:
    """DPoP settings (RFC 9449): accepted proof algorithms, the oldest ``iat`` accepted, the replay
    cache's budgets, and server nonces (``nonce_secret``, at least 32 bytes, shared by every
    instance of the service)."""

    algorithms: Sequence[str] = DEFAULT_DPOP_ALGORITHMS
    max_age_seconds: int = 60
    replay_cache_size: int = 100_000
    replay_cache_size_per_key: int = 1000
    replay_cache_size_per_client: Optional[int] = None
    nonce_secret: Optional[bytes] = None
    nonce_lifetime_seconds: int = 300


def _invalid(message: str) -> VerifierError:
    return VerifierError("invalid_token", message)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def claims_sha256(token: str) -> str:
    """``src/wire/claims-digest.ts``: base64url(SHA-256(the token's payload segment))."""
    payload = token[token.index(".") + 1 : token.rindex(".")]
    return b64u(hashlib.sha256(payload.encode("ascii")).digest())


def _check_ancestor_grants(claims: Dict[str, Any]) -> None:
    """A delegated token's ``ancestor_grants``: every grant above it, root first, ending with its
    ``parent_grant`` (``{"client_id", "grant_id"}`` of non-empty strings). Liveness checks them all."""
    if "ancestor_grants" not in claims:
        return
    ancestors = claims["ancestor_grants"]
    shape = 'the token\'s ancestor_grants claim must be a list of {"client_id", "grant_id"} ending with its parent_grant'
    if not isinstance(ancestors, list) or not 0 < len(ancestors) <= 32:
        raise _invalid(shape)
    for a in ancestors:
        if not isinstance(a, dict) or sorted(a) != ["client_id", "grant_id"]:
            raise _invalid(shape)
        if not all(isinstance(a[k], str) and a[k] for k in ("client_id", "grant_id")):
            raise _invalid(shape)
    # Ensure the chain liveness checks is the one the token was delegated along.
    if ancestors[-1]["grant_id"] != claims.get("parent_grant"):
        raise _invalid(shape)


class Verifier:
    """Verifies writ access tokens at a downstream service. Strict by default: an explicit
    algorithm allow-list (ES256, EdDSA), ``typ: at+jwt``, the exact ``iss``, a required ``aud``,
    ``exp``/``nbf``/``iat`` with a small tolerance, every RFC 9068 claim present and typed;
    ``jku``, ``x5u``, ``jwk``, ``x5c`` and ``crit`` headers are refused. An unknown ``kid`` refetches
    the JWKS at most once per cooldown. DPoP-bound tokens (``cnf.jkt``) need a valid proof. Finally
    the grant must be live (``liveness``; ``RedisLiveness`` for revocation within milliseconds).

    Example::

        verifier = Verifier(
            issuer="https://writ.example.com",
            audience="https://git.example.com/acme/app",
            jwks_uri="https://writ.example.com/.well-known/jwks.json",
            liveness=RedisLiveness("redis://writ-verifier:PASSWORD@writ-redis:6379"),
        )
        claims = verifier.verify_request("GET", url, headers)
        verifier.authorize(claims, "repo", "read", identifier="docs/README.md")
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: Union[str, Sequence[str]],
        liveness: Liveness,
        jwks: Optional[Mapping[str, Any]] = None,
        jwks_uri: Optional[str] = None,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        clock_tolerance_seconds: float = 5,
        dpop: DpopOptions = DpopOptions(),
        jwks_cooldown_seconds: float = 30,
        jwks_max_age_seconds: float = 600,
        realm: Optional[str] = None,
        clock: Callable[[], float] = time.time,
        http: Optional[httpx.Client] = None,
    ) -> None:
        problems = []
        if not isinstance(issuer, str) or not issuer:
            problems.append("issuer: required")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if not audiences or any(not isinstance(a, str) or not a for a in audiences):
            problems.append("audience: required (this service's identifier, a non-empty string or list)")
        if (jwks is None) == (jwks_uri is None):
            problems.append("jwks or jwks_uri: give exactly one")
        if jwks_uri is not None and not re.match(r"^https?://", str(jwks_uri)):
            problems.append("jwks_uri: must be an http(s) URL")
        if liveness is None or not hasattr(liveness, "check"):
            problems.append("liveness: required (RedisLiveness(...) or NoLiveness())")
        for name, algs in (("algorithms", algorithms), ("dpop.algorithms", dpop.algorithms)):
            if not algs or any(a not in _ASYMMETRIC for a in algs):
                problems.append(f"{name}: a non-empty list of asymmetric JWS algorithms")
        if not (0 <= clock_tolerance_seconds <= 300):
            problems.append("clock_tolerance_seconds: between 0 and 300")
        if problems:
            raise ValueError("invalid verifier options:\n  - " + "\n  - ".join(problems))
        self.issuer = issuer
        self.audience = audiences
        self.realm = realm
        self._tolerance = clock_tolerance_seconds
        self._algorithms = list(algorithms)
        self._clock = clock
        self._dpop = dpop
        self._nonces = DpopNonces(dpop.nonce_secret, dpop.nonce_lifetime_seconds, clock) if dpop.nonce_secret else None
        per_key = dpop.replay_cache_size_per_key
        self._replay = ReplayCache(
            dpop.replay_cache_size,
            dpop.max_age_seconds + 2 * clock_tolerance_seconds + 1,
            per_key,
            dpop.replay_cache_size_per_client or max(per_key, dpop.replay_cache_size // 10),
        )
        self.keys = KeyResolver(
            algorithms=self._algorithms,
            jwks=jwks,
            jwks_uri=jwks_uri,
            http=http,
            clock=clock,
            cooldown_seconds=jwks_cooldown_seconds,
            max_age_seconds=jwks_max_age_seconds,
        )
        self.liveness = liveness
        liveness.attach(self.keys)

    # --- tokens -------------------------------------------------------------------------------

    def _verify_signed(self, token: str) -> Dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise _invalid("the token is malformed") from err
        # Ensure no header points at a key elsewhere, or asks for extensions we do not process.
        for name in ("jku", "x5u", "jwk", "x5c"):
            if name in header:
                raise _invalid(f"the token must not carry a {name} header")
        if "crit" in header:
            raise _invalid("the token must not carry a crit header")
        # Ensure an allowed asymmetric algorithm: never none, never HS* (RFC 8725 §3.1).
        if header.get("alg") not in self._algorithms:
            raise _invalid("the token algorithm is not allowed")
        typ = header.get("typ")
        # RFC 9068 §4: typ at+jwt (application/at+jwt is the same media type).
        if not isinstance(typ, str) or typ.lower() not in ("at+jwt", "application/at+jwt"):
            raise _invalid("the token is not an access token (typ must be at+jwt)")
        key, alg = self.keys.resolve(header)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._tolerance,
                options={"require": list(_REQUIRED), "verify_iat": False},
            )
        except jwt.ExpiredSignatureError as err:
            raise VerifierError("token_expired", "the token has expired") from err
        except jwt.InvalidAudienceError as err:
            raise VerifierError("audience_mismatch", "the token was not issued for this service (aud)") from err
        except jwt.InvalidIssuerError as err:
            raise VerifierError("issuer_mismatch", "the token was not issued by the expected issuer (iss)") from err
        except jwt.MissingRequiredClaimError as err:
            raise _invalid(f"the token has no {err.claim} claim") from err
        except jwt.ImmatureSignatureError as err:
            raise _invalid("the token is not valid yet (nbf)") from err
        except jwt.InvalidSignatureError as err:
            raise _invalid("the token signature is invalid") from err
        except jwt.PyJWTError as err:
            raise _invalid("the token is malformed") from err
        return self._check_claims(claims)

    def _check_claims(self, claims: Dict[str, Any]) -> Dict[str, Any]:
        now = self._clock()
        for name in ("exp", "iat"):
            if not _number(claims.get(name)):
                raise _invalid(f"the token's {name} claim must be a number")
        if "nbf" in claims and not _number(claims["nbf"]):
            raise _invalid("the token's nbf claim must be a number")
        if not isinstance(claims.get("iss"), str):
            raise _invalid("the token's iss claim must be a string")
        aud = claims.get("aud")
        if not (isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))):
            raise _invalid("the token's aud claim must be a string or a list of strings")
        for name in ("sub", "jti", "client_id"):
            if not isinstance(claims.get(name), str) or claims[name] == "":
                raise _invalid(f"the token's {name} claim must be a non-empty string")
        # Ensure the token was not issued in the future (beyond the tolerance).
        if claims["iat"] > now + self._tolerance:
            raise _invalid("the token was issued in the future (iat)")
        if claims["exp"] <= now - self._tolerance:
            raise VerifierError("token_expired", "the token has expired")
        details = claims.get("authorization_details")
        if details is not None and not isinstance(details, list):
            raise _invalid("the token's authorization_details claim must be an array")
        # Ensure a confirmation we cannot check is never ignored (only DPoP's jkt is understood).
        if "cnf" in claims:
            cnf = claims["cnf"]
            if not isinstance(cnf, dict) or list(cnf) != ["jkt"] or not isinstance(cnf["jkt"], str) or not cnf["jkt"]:
                raise _invalid('the token\'s cnf claim must be {"jkt": thumbprint}')
        _check_ancestor_grants(claims)
        return claims

    def _verify(self, token: str, scheme: str, proof: Optional[str], method: Optional[str], url: Optional[str]) -> Dict[str, Any]:
        # Ensure the token is a compact JWS of sane size before anything parses it.
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or not _COMPACT.match(token):
            raise _invalid("the access token is missing, malformed or too long")
        claims = self._verify_signed(token)
        jkt = claims.get("cnf", {}).get("jkt")
        verified = None
        if jkt is None:
            # Ensure the DPoP scheme is only used with tokens that are actually bound.
            if scheme == "DPoP":
                raise _invalid("this token is not DPoP-bound: send it with the Bearer scheme")
        else:
            # Ensure a DPoP-bound token is never accepted as a bearer token (RFC 9449 §7.1).
            if scheme != "DPoP":
                raise _invalid("this token is DPoP-bound: send it with the DPoP scheme and a proof")
            if not proof:
                raise VerifierError("invalid_dpop_proof", "the DPoP proof is missing (DPoP header)")
            if "," in proof:
                raise VerifierError("invalid_dpop_proof", "the request must carry exactly one DPoP header")
            if method is None or url is None:
                raise TypeError("verify: method and url are required for a DPoP-bound token")
            verified = verify_dpop_proof(
                proof,
                method=method.upper(),
                url=url,
                access_token=token,
                algorithms=self._dpop.algorithms,
                max_age_seconds=self._dpop.max_age_seconds,
                clock_tolerance_seconds=self._tolerance,
                clock=self._clock,
                nonces=self._nonces,
                expected_jkt=jkt,
            )
        # Ensure the grant is still live (the only step that may do I/O).
        self.liveness.check(claims, claims_sha256(token))
        if verified is not None:
            # Ensure each proof is used once (RFC 9449 §11.1), within its key's and client's budgets.
            taken = self._replay.take(verified.jkt, verified.jti, f"client:{claims['client_id']}", self._clock())
            if taken == "replayed":
                raise VerifierError("invalid_dpop_proof", _DPOP_REPLAYED)
            if taken == "full":
                raise VerifierError("invalid_dpop_proof", "too many recent DPoP proofs to rule out a replay; retry shortly")
        return claims

    def verify(
        self,
        token: str,
        *,
        scheme: str = "Bearer",
        dpop_proof: Optional[str] = None,
        method: Optional[str] = None,
        url: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Verifies an access token presented with ``scheme`` (``Bearer`` or ``DPoP``; for DPoP the
        request's ``DPoP`` header, method and URL). Returns its claims; raises ``VerifierError``."""
        try:
            return self._verify(token, scheme, dpop_proof, method, url)
        except VerifierError as err:
            # The challenge names the scheme the client must use: DPoP for bound tokens and requests.
            bound = False
            try:
                bound = "cnf" in jwt.decode(token, options={"verify_signature": False}) if isinstance(token, str) else False
            except Exception:  # noqa: BLE001
                pass
            if err.scheme != "DPoP" and (bound or scheme == "DPoP"):
                raise err.with_scheme("DPoP") from err.__cause__
            raise

    def verify_request(self, method: str, url: str, headers: Mapping[str, str]) -> Dict[str, Any]:
        """Verifies the access token of an HTTP request (``Authorization: Bearer`` or ``DPoP`` with a
        ``DPoP`` proof header). ``url`` is the public URL the client called (the proof's ``htu``)."""
        lower = {k.lower(): v for k, v in headers.items()}
        header = lower.get("authorization")
        # RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
        if header is None or header.strip() == "":
            raise VerifierError("invalid_token", "the request carries no access token", missing_credentials=True)
        match = _AUTHORIZATION.match(header.strip())
        scheme = match.group(1).lower() if match else None
        if not match or scheme not in ("bearer", "dpop"):
            if match:
                raise VerifierError("invalid_token", "the request carries no Bearer or DPoP access token", missing_credentials=True)
            raise VerifierError("invalid_request", 'the Authorization header must be "Bearer <token>" or "DPoP <token>"')
        token = match.group(2)
        if scheme == "bearer":
            return self.verify(token)
        return self.verify(token, scheme="DPoP", dpop_proof=lower.get("dpop"), method=method, url=url)

    def authorize(
        self, claims: Mapping[str, Any], type: str, action: str, location: Optional[str] = None, identifier: Optional[str] = None
    ) -> Dict[str, Any]:
        """``writ.verifier.authorize`` at this service: without ``location``, at this verifier's audience."""
        return authorize(claims, type, action, location=location, identifier=identifier, audience=self.audience)

    def error_headers(self, err: VerifierError) -> Dict[str, str]:
        """The headers of the answer to ``err``, with this verifier's realm and DPoP algorithms."""
        return err.headers(self.realm, self._dpop.algorithms)

    def dpop_nonce(self) -> Optional[str]:
        return self._nonces.issue() if self._nonces else None

    def status(self) -> Dict[str, Any]:
        return self.liveness.status()

    def close(self) -> None:
        """Closes the liveness connections; afterwards every token is refused."""
        self.liveness.close()
