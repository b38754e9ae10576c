"""Public JWKs and RFC 7638 thumbprints of ``cryptography`` keys (shared by client and verifier)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Dict, Mapping, Union

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

PublicKey = Union[ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey]
PrivateKey = Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey]

_CURVES = {"secp256r1": ("P-256", 32), "secp384r1": ("P-384", 48), "secp521r1": ("P-521", 66)}


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(key: Union[PublicKey, PrivateKey]) -> Dict[str, str]:
    """The public members of a key as a JWK (RFC 7517/7518/8037)."""
    public = key.public_key() if hasattr(key, "private_bytes") else key
    if isinstance(public, ec.EllipticCurvePublicKey):
        crv, size = _CURVES[public.curve.name]
        n = public.public_numbers()
        return {"kty": "EC", "crv": crv, "x": b64u(n.x.to_bytes(size, "big")), "y": b64u(n.y.to_bytes(size, "big"))}
    if isinstance(public, ed25519.Ed25519PublicKey):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return {"kty": "OKP", "crv": "Ed25519", "x": b64u(public.public_bytes(Encoding.Raw, PublicFormat.Raw))}
    if isinstance(public, rsa.RSAPublicKey):
        n = public.public_numbers()
        return {
            "kty": "RSA",
            "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
            "e": b64u(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")),
        }
    raise TypeError(f"unsupported key type {type(public).__name__}; use EC P-256, Ed25519 or RSA")


def algorithm_of(key: PrivateKey) -> str:
    """The JWS algorithm writ uses with a key: ES256, EdDSA or RS256."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name != "secp256r1":
            raise TypeError("EC keys must be P-256 (ES256)")
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    raise TypeError(f"unsupported key type {type(key).__name__}; use EC P-256, Ed25519 or RSA")


_REQUIRED = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: the required members, sorted, without whitespace."""
    members = _REQUIRED.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise ValueError("the JWK has no thumbprint: unknown kty or a required member missing")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64u(hashlib.sha256(canonical.encode("utf-8")).digest())
