"""DPoP proofs (RFC 9449) made by the agent: one per request, bound to the access token by ``ath``."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, Optional
from urllib.parse import urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from ._jwk import PrivateKey, algorithm_of, b64u, public_jwk, thumbprint

__all__ = ["DpopKey", "create_dpop_proof", "access_token_hash"]


@dataclass(frozen=True)
class DpopKey:
    """A DPoP key pair: the private key signs proofs, its public JWK goes in their header.

    ``DpopKey.generate()`` makes a fresh P-256 key (ES256), the usual choice; an Ed25519 or RSA key
    from ``cryptography`` works too.
    """

    private_key: PrivateKey
    jwk: Dict[str, str] = field(init=False)
    algorithm: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "jwk", public_jwk(self.private_key))
        object.__setattr__(self, "algorithm", algorithm_of(self.private_key))

    @classmethod
    def generate(cls) -> "DpopKey":
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def thumbprint(self) -> str:
        """RFC 7638 thumbprint of the public key: what a bound token carries as ``cnf.jkt``."""
        return thumbprint(self.jwk)


def access_token_hash(access_token: str) -> str:
    """base64url(SHA-256(access token)): a proof's ``ath`` (RFC 9449 §4.2)."""
    return b64u(hashlib.sha256(access_token.encode("ascii")).digest())


def create_dpop_proof(
    key: DpopKey,
    method: str,
    url: str,
    access_token: Optional[str] = None,
    nonce: Optional[str] = None,
    now: Optional[float] = None,
) -> str:
    """One DPoP proof JWT (RFC 9449 §4.2): ``htm``, ``htu`` (without query and fragment), a fresh
    ``jti``, ``iat``, ``ath`` when the request carries an access token, ``nonce`` when the server
    asked for one."""
    parts = urlsplit(url)
    claims: Dict[str, object] = {
        "htm": method.upper(),
        "htu": urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", "")),
        "jti": str(uuid.uuid4()),
        "iat": int(now if now is not None else time.time()),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    return jwt.encode(claims, key.private_key, algorithm=key.algorithm, headers={"typ": "dpop+jwt", "jwk": key.jwk})
