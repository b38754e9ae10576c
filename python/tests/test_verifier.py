"""Every negative case of the JS verifier's test list (test/verifier/*.test.ts), against the Python
verifier, with tokens signed by a local issuer."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Dict, List, Optional

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from writ import DpopKey, create_dpop_proof
from writ._jwk import public_jwk
from writ.verifier import DpopOptions, NoLiveness, Verifier, VerifierError, authorize

ISS = "https://writ.test"
APP = "https://git.example.com/acme/app"
URL = f"{APP}/docs/README.md"


class Issuer:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "k1"

    def jwks(self) -> Dict[str, Any]:
        return {"keys": [{**public_jwk(self.key), "kid": self.kid, "alg": "ES256", "use": "sig"}]}

    def token(self, claims: Optional[Dict[str, Any]] = None, header: Optional[Dict[str, Any]] = None, key: Any = None,
              alg: str = "ES256", drop: tuple = ()) -> str:
        now = int(time.time())
        body: Dict[str, Any] = {
            "iss": ISS, "sub": "agent-a", "aud": APP, "exp": now + 600, "iat": now, "jti": "g-1", "client_id": "agent-a",
            "authorization_details": [{"type": "repo", "actions": ["read"], "locations": [APP], "identifier": "docs/**"}],
        }
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        headers = {"typ": "at+jwt", "kid": self.kid, **(header or {})}
        return jwt.encode(body, key if key is not None else self.key, algorithm=alg, headers=headers)


@pytest.fixture()
def issuer() -> Issuer:
    return Issuer()


def make(issuer: Issuer, **kw: Any) -> Verifier:
    return Verifier(issuer=ISS, audience=APP, jwks=issuer.jwks(), liveness=NoLiveness(), **kw)


def code(fn: Any) -> str:
    try:
        fn()
        return "ok"
    except VerifierError as err:
        return err.code


def b64(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- RFC 9068 / RFC 8725 checks (verify-token.test.ts) ---------------------------------------------


def test_accepts_a_well_formed_token_and_typ_application_at_jwt(issuer: Issuer) -> None:
    v = make(issuer)
    assert v.verify(issuer.token())["client_id"] == "agent-a"
    assert v.verify(issuer.token(header={"typ": "application/at+jwt"}))["jti"] == "g-1"


def test_rejects_alg_none(issuer: Issuer) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': 'k1'})}.{b64({'iss': ISS})}.AA"
    assert code(lambda: make(issuer).verify(token)) == "invalid_token"


def test_rejects_hs256_signed_with_the_public_key_as_secret(issuer: Issuer) -> None:
    secret = json.dumps(issuer.jwks()["keys"][0]).encode()
    # PyJWT refuses to sign with a PEM-looking key, so the token is made by hand.
    import hashlib
    import hmac

    signing_input = f"{b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': 'k1'})}.{b64({'iss': ISS, 'aud': APP})}"
    sig = base64.urlsafe_b64encode(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    assert code(lambda: make(issuer).verify(f"{signing_input}.{sig}")) == "invalid_token"


def test_rejects_an_algorithm_the_options_do_not_allow(issuer: Issuer) -> None:
    rsa_key = rsa.generate_private_key(65537, 2048)
    jwks = {"keys": [{**public_jwk(rsa_key), "kid": "r1"}]}
    v = Verifier(issuer=ISS, audience=APP, jwks=jwks, liveness=NoLiveness())
    assert code(lambda: v.verify(issuer.token(key=rsa_key, alg="RS256", header={"kid": "r1"}))) == "invalid_token"


def test_rejects_a_token_signed_by_another_key_under_a_known_kid(issuer: Issuer) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    assert code(lambda: make(issuer).verify(issuer.token(key=other))) == "invalid_token"


def test_audience_issuer_and_times(issuer: Issuer) -> None:
    v = make(issuer)
    now = int(time.time())
    assert code(lambda: v.verify(issuer.token({"aud": "https://elsewhere.example"}))) == "audience_mismatch"
    assert code(lambda: v.verify(issuer.token({"aud": ["https://elsewhere.example", APP]}))) == "ok"
    assert code(lambda: v.verify(issuer.token({"iss": "https://evil.example"}))) == "issuer_mismatch"
    assert code(lambda: v.verify(issuer.token({"exp": now - 30}))) == "token_expired"
    assert code(lambda: v.verify(issuer.token({"exp": now - 2}))) == "ok"  # within the tolerance
    assert code(lambda: v.verify(issuer.token({"nbf": now + 60}))) == "invalid_token"
    assert code(lambda: v.verify(issuer.token({"iat": now + 60}))) == "invalid_token"


@pytest.mark.parametrize(
    "claims",
    [{"sub": 42}, {"jti": ""}, {"client_id": None}, {"exp": "9999999999"}, {"iat": True},
     {"authorization_details": {"type": "repo"}}, {"cnf": {"x5t#S256": "abc"}}, {"cnf": {"jkt": "a", "x": 1}}],
)
def test_rejects_claims_of_the_wrong_type(issuer: Issuer, claims: Dict[str, Any]) -> None:
    assert code(lambda: make(issuer).verify(issuer.token(claims))) == "invalid_token"


@pytest.mark.parametrize("name", ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"])
def test_rejects_a_token_missing_an_rfc_9068_claim(issuer: Issuer, name: str) -> None:
    assert code(lambda: make(issuer).verify(issuer.token(drop=(name,)))) in ("invalid_token", "audience_mismatch", "issuer_mismatch")


@pytest.mark.parametrize("header", [{"crit": ["b64"], "b64": True}, {"jku": "https://evil.example/jwks"},
                                    {"x5u": "https://evil.example/c"}, {"typ": "JWT"}])
def test_rejects_dangerous_headers_and_another_typ(issuer: Issuer, header: Dict[str, Any]) -> None:
    assert code(lambda: make(issuer).verify(issuer.token(header=header))) == "invalid_token"


def test_rejects_a_token_without_kid_and_with_an_unknown_kid(issuer: Issuer) -> None:
    now = int(time.time())
    no_kid = jwt.encode({"iss": ISS, "aud": APP, "exp": now + 60}, issuer.key, algorithm="ES256", headers={"typ": "at+jwt"})
    assert code(lambda: make(issuer).verify(no_kid)) == "invalid_token"
    assert code(lambda: make(issuer).verify(issuer.token(header={"kid": "nope"}))) == "invalid_token"


def test_rejects_garbage_and_oversized_tokens_without_echoing_them(issuer: Issuer) -> None:
    v = make(issuer)
    for token in ["", "garbage", "a.b.c", "x" * 20000, "a.b"]:
        with pytest.raises(VerifierError) as err:
            v.verify(token)
        assert err.value.code == "invalid_token" and (token == "" or token[:50] not in err.value.message)


def test_refuses_dangerous_or_missing_options(issuer: Issuer) -> None:
    for kw in [
        {"issuer": "", "audience": APP, "jwks": issuer.jwks(), "liveness": NoLiveness()},
        {"issuer": ISS, "audience": [], "jwks": issuer.jwks(), "liveness": NoLiveness()},
        {"issuer": ISS, "audience": APP, "liveness": NoLiveness()},
        {"issuer": ISS, "audience": APP, "jwks": issuer.jwks(), "jwks_uri": "https://x", "liveness": NoLiveness()},
        {"issuer": ISS, "audience": APP, "jwks": issuer.jwks(), "liveness": NoLiveness(), "algorithms": ["HS256"]},
        {"issuer": ISS, "audience": APP, "jwks": issuer.jwks(), "liveness": NoLiveness(), "algorithms": ["none"]},
        {"issuer": ISS, "audience": APP, "jwks": issuer.jwks(), "liveness": None},
    ]:
        with pytest.raises(ValueError):
            Verifier(**kw)


def test_challenges_follow_rfc_6750_and_9449(issuer: Issuer) -> None:
    v = make(issuer, realm="docs")
    with pytest.raises(VerifierError) as err:
        v.verify_request("GET", URL, {})
    assert err.value.status == 401 and v.error_headers(err.value)["WWW-Authenticate"].startswith('Bearer realm="docs", DPoP')
    with pytest.raises(VerifierError) as err:
        v.verify_request("GET", URL, {"Authorization": "Bearer a b"})
    assert err.value.code == "invalid_request" and err.value.status == 400


# --- DPoP at the resource server (dpop.test.ts) ----------------------------------------------------


def bound(issuer: Issuer, key: DpopKey, **claims: Any) -> str:
    return issuer.token({"cnf": {"jkt": key.thumbprint}, **claims})


def dpop_code(v: Verifier, token: str, proof: Optional[str], method: str = "GET", url: str = URL, scheme: str = "DPoP") -> str:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return code(lambda: v.verify_request(method, url, headers))


def test_accepts_a_bound_token_with_its_proof_ignoring_query_and_fragment(issuer: Issuer) -> None:
    key = DpopKey.generate()
    token = bound(issuer, key)
    v = make(issuer)
    assert dpop_code(v, token, create_dpop_proof(key, "GET", URL, access_token=token)) == "ok"
    assert dpop_code(v, token, create_dpop_proof(key, "GET", URL, access_token=token), url=URL + "?a=1#f") == "ok"
    # Ed25519 and RSA proof keys work too.
    for other in (DpopKey(ed25519.Ed25519PrivateKey.generate()), DpopKey(rsa.generate_private_key(65537, 2048))):
        t = bound(issuer, other)
        assert dpop_code(v, t, create_dpop_proof(other, "GET", URL, access_token=t)) == "ok"


def test_dpop_negative_cases(issuer: Issuer) -> None:
    key, other = DpopKey.generate(), DpopKey.generate()
    token = bound(issuer, key)
    v = make(issuer)
    proof = lambda **kw: create_dpop_proof(key, kw.pop("method", "GET"), kw.pop("url", URL), **{"access_token": token, **kw})  # noqa: E731
    # A bound token as a bearer token, with a DPoP challenge.
    with pytest.raises(VerifierError) as err:
        v.verify_request("GET", URL, {"Authorization": f"Bearer {token}"})
    assert err.value.code == "invalid_token" and err.value.scheme == "DPoP"
    assert dpop_code(v, token, None) == "invalid_dpop_proof"
    assert dpop_code(v, token, proof(method="POST")) == "invalid_dpop_proof"
    assert dpop_code(v, token, proof(url="https://git.example.com/acme/other/x")) == "invalid_dpop_proof"
    assert dpop_code(v, token, proof(access_token="another-token")) == "invalid_dpop_proof"
    assert dpop_code(v, token, create_dpop_proof(key, "GET", URL)) == "invalid_dpop_proof"  # no ath
    assert dpop_code(v, token, create_dpop_proof(other, "GET", URL, access_token=token)) == "invalid_dpop_proof"
    replayed = proof()
    assert dpop_code(v, token, replayed) == "ok"
    assert dpop_code(v, token, replayed) == "invalid_dpop_proof"
    assert dpop_code(v, token, proof(now=time.time() - 120)) == "invalid_dpop_proof"
    assert dpop_code(v, token, proof(now=time.time() + 120)) == "invalid_dpop_proof"
    assert dpop_code(v, token, f"{proof()}, {proof()}") == "invalid_dpop_proof"


def forged_proof(key: DpopKey, token: str, header: Dict[str, Any], alg: str = "ES256", signer: Any = None) -> str:
    claims = {"htm": "GET", "htu": URL, "jti": "j-" + str(time.time()), "iat": int(time.time()),
              "ath": create_dpop_proof(key, "GET", URL, access_token=token) and __import__("writ").dpop.access_token_hash(token)}
    return jwt.encode(claims, signer if signer is not None else key.private_key, algorithm=alg,
                      headers={"typ": "dpop+jwt", "jwk": key.jwk, **header})


def test_rejects_malformed_proofs(issuer: Issuer) -> None:
    key = DpopKey.generate()
    token = bound(issuer, key)
    v = make(issuer)
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

    assert isinstance(key.private_key, EllipticCurvePrivateKey)
    d = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    private_jwk = {**key.jwk, "d": base64.urlsafe_b64encode(d).rstrip(b"=").decode()}
    for header in ({"typ": "JWT"}, {"jwk": private_jwk}, {"jku": "https://evil.example/k"}, {"x5c": ["AA"]}, {"crit": ["x"]}):
        assert dpop_code(v, token, forged_proof(key, token, header)) == "invalid_dpop_proof", header
    # HMAC: never allowed, whatever the key.
    hmac_proof = jwt.encode({"htm": "GET", "htu": URL, "jti": "h", "iat": int(time.time())}, "secret" * 6, algorithm="HS256",
                            headers={"typ": "dpop+jwt", "jwk": key.jwk})
    assert dpop_code(v, token, hmac_proof) == "invalid_dpop_proof"


def test_rejects_an_unbound_token_sent_with_the_dpop_scheme(issuer: Issuer) -> None:
    key = DpopKey.generate()
    token = issuer.token()
    assert dpop_code(make(issuer), token, create_dpop_proof(key, "GET", URL, access_token=token)) == "invalid_token"


def test_rsa_proof_keys_need_exponent_65537_and_2048_to_4096_bits(issuer: Issuer) -> None:
    v = make(issuer)
    for key in (DpopKey(rsa.generate_private_key(3, 2048)), DpopKey(rsa.generate_private_key(65537, 1024))):
        token = bound(issuer, key)
        assert dpop_code(v, token, create_dpop_proof(key, "GET", URL, access_token=token)) == "invalid_dpop_proof"


def test_server_nonces(issuer: Issuer) -> None:
    key = DpopKey.generate()
    token = bound(issuer, key)
    v = make(issuer, dpop=DpopOptions(nonce_secret=b"n" * 32))
    with pytest.raises(VerifierError) as err:
        v.verify_request("GET", URL, {"Authorization": f"DPoP {token}", "DPoP": create_dpop_proof(key, "GET", URL, access_token=token)})
    assert err.value.code == "use_dpop_nonce" and err.value.dpop_nonce
    assert "DPoP-Nonce" in v.error_headers(err.value)
    ok = create_dpop_proof(key, "GET", URL, access_token=token, nonce=err.value.dpop_nonce)
    assert dpop_code(v, token, ok) == "ok"
    assert dpop_code(v, token, create_dpop_proof(key, "GET", URL, access_token=token, nonce="0.AAAAAAAAAAAAAAAAAAAAAA")) == "use_dpop_nonce"


def test_one_key_filling_the_replay_cache_is_refused_alone(issuer: Issuer) -> None:
    flooder, honest = DpopKey.generate(), DpopKey.generate()
    v = make(issuer, dpop=DpopOptions(replay_cache_size_per_key=5))
    t1, t2 = bound(issuer, flooder), bound(issuer, honest, client_id="agent-b", sub="agent-b")
    for _ in range(5):
        assert dpop_code(v, t1, create_dpop_proof(flooder, "GET", URL, access_token=t1)) == "ok"
    assert dpop_code(v, t1, create_dpop_proof(flooder, "GET", URL, access_token=t1)) == "invalid_dpop_proof"
    assert dpop_code(v, t2, create_dpop_proof(honest, "GET", URL, access_token=t2)) == "ok"


# --- key rotation (key-rotation.test.ts) -----------------------------------------------------------


class Jwks:
    """A JWKS endpoint through httpx.MockTransport, counting fetches."""

    def __init__(self, issuer: Issuer) -> None:
        self.keys: List[Dict[str, Any]] = issuer.jwks()["keys"]
        self.fetches = 0
        self.fail = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.fail:
            return httpx.Response(500)
        return httpx.Response(200, json={"keys": self.keys})


def remote(issuer: Issuer, jwks: Jwks, clock: List[float]) -> Verifier:
    return Verifier(issuer=ISS, audience=APP, jwks_uri=f"{ISS}/.well-known/jwks.json", liveness=NoLiveness(),
                    http=httpx.Client(transport=httpx.MockTransport(jwks.handler)), clock=lambda: clock[0])


def test_unknown_kids_refetch_at_most_once_per_cooldown(issuer: Issuer) -> None:
    jwks, clock = Jwks(issuer), [time.time()]
    v = remote(issuer, jwks, clock)
    v.verify(issuer.token())
    assert jwks.fetches == 1
    v.verify(issuer.token())
    assert jwks.fetches == 1  # from memory
    new = ec.generate_private_key(ec.SECP256R1())
    jwks.keys = jwks.keys + [{**public_jwk(new), "kid": "k2", "alg": "ES256"}]
    fresh = issuer.token(key=new, header={"kid": "k2"})
    # Made-up kids cannot turn into fetches: at most one fetch per cooldown, the rest refused.
    for i in range(20):
        assert code(lambda: v.verify(issuer.token(header={"kid": f"made-up-{i}"}))) == "invalid_token"
    assert jwks.fetches == 1
    assert code(lambda: v.verify(fresh)) == "invalid_token"  # within the cooldown of the last fetch
    clock[0] += 31
    assert code(lambda: v.verify(fresh)) == "ok"
    assert jwks.fetches == 2
    for i in range(20):
        code(lambda: v.verify(issuer.token(header={"kid": f"made-up-again-{i}"})))
    assert jwks.fetches == 2


def test_fails_closed_while_the_jwks_cannot_be_fetched(issuer: Issuer) -> None:
    jwks, clock = Jwks(issuer), [time.time()]
    jwks.fail = True
    v = remote(issuer, jwks, clock)
    assert code(lambda: v.verify(issuer.token())) == "invalid_token"


def test_a_removed_key_stops_verifying_after_refetch(issuer: Issuer) -> None:
    jwks, clock = Jwks(issuer), [time.time()]
    v = remote(issuer, jwks, clock)
    token = issuer.token()
    assert code(lambda: v.verify(token)) == "ok"
    jwks.keys = []
    clock[0] += 601  # the set is stale: refetched on the next use
    assert code(lambda: v.verify(issuer.token(claims={"exp": int(clock[0]) + 60, "iat": int(clock[0])}))) == "invalid_token"


# --- authorize (authorize.test.ts) -----------------------------------------------------------------


def test_authorize() -> None:
    claims = {"aud": APP, "authorization_details": [
        {"type": "repo", "actions": ["read"], "locations": ["https://git.example.com/acme/*"], "identifier": "docs/**"},
        {"type": "repo", "actions": ["write"], "locations": [APP], "identifier": "docs/*.md"},
        {"type": "deploy", "actions": ["create"], "locations": ["https://deploy.example.com/acme/app"]},
    ]}
    ok = lambda *a, **kw: code(lambda: authorize(claims, *a, **kw))  # noqa: E731
    assert ok("repo", "read", identifier="docs/a/b.md") == "ok"
    assert ok("repo", "write", identifier="docs/a.md") == "ok"
    assert ok("repo", "write", identifier="docs/a/b.md") == "insufficient_scope"  # * stays in a segment
    assert ok("repo", "delete", identifier="docs/a.md") == "insufficient_scope"
    assert ok("wiki", "read", identifier="docs/a.md") == "insufficient_scope"
    assert ok("repo", "read", location="https://git.example.com/other/app", identifier="docs/a") == "insufficient_scope"
    assert ok("repo", "read") == "insufficient_scope"  # an identifier-limited grant never covers the whole location
    assert ok("repo", "read", identifier="docs/../src/x") == "insufficient_scope"
    assert ok("repo", "read", identifier="docs/*") == "ok"  # * in the request is literal, and under docs/**
    assert ok("deploy", "create", location="https://deploy.example.com/acme/app") == "ok"
    assert ok("deploy", "create") == "insufficient_scope"  # here is the token's audience, not the deploy service
    assert code(lambda: authorize({"aud": APP}, "repo", "read", identifier="docs/a")) == "insufficient_scope"
    assert code(lambda: authorize({"aud": APP, "authorization_details": [{"type": "repo", "actions": "read"}]}, "repo", "read")) == "insufficient_scope"
    several = {"aud": [APP, "https://b.example"], "authorization_details": claims["authorization_details"]}
    assert code(lambda: authorize(several, "repo", "read", identifier="docs/a", audience=[APP, "https://b.example"])) == "insufficient_scope"
    unplaced = {"aud": APP, "authorization_details": [{"type": "repo", "actions": ["read"]}]}
    assert code(lambda: authorize(unplaced, "repo", "read")) == "ok"
    assert code(lambda: authorize(unplaced, "repo", "read", location=APP)) == "insufficient_scope"
