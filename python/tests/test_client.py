"""The client against a real broker: both client authentications, DPoP, typed errors, revoke."""

from __future__ import annotations

import asyncio

import pytest

import writ
from writ import ClientSecret, DpopKey, PrivateKeyJwt, WritClientError
from writ.verifier import NoLiveness, RedisLiveness, Verifier, VerifierError

from .conftest import APP, REDIS_URL, SECRET_A, Broker, docs_manifest


def verifier_for(broker: Broker) -> Verifier:
    return Verifier(issuer=broker.url, audience=APP, jwks_uri=f"{broker.url}/.well-known/jwks.json", liveness=NoLiveness())


def test_a_secret_client_gets_a_token_the_python_verifier_accepts(broker: Broker) -> None:
    token = writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), docs_manifest())
    assert token.token_type == "Bearer"
    assert token.scope == "repo:read"
    claims = verifier_for(broker).verify(token.access_token)
    assert claims["client_id"] == "agent-a" and claims["jti"] == token.grant_id
    assert claims["task"]["id"] == "JIRA-4711"


def test_a_private_key_jwt_client_gets_a_token_through_ciba(broker: Broker) -> None:
    creds = PrivateKeyJwt("agent-jwt", broker.jwt_key, key_id="agent-jwt-1")
    pending = []
    token = writ.request_token(broker.url, creds, docs_manifest(), on_pending=pending.append)
    assert pending == []  # auto-approved: redeemed at the first poll, nobody waited
    claims = verifier_for(broker).verify(token.access_token)
    assert claims["client_id"] == "agent-jwt"


def test_asyncio_variant_with_dpop(broker: Broker) -> None:
    key = DpopKey.generate()
    token = asyncio.run(writ.aio.request_token(broker.url, ClientSecret("agent-a", SECRET_A), docs_manifest(), dpop_key=key))
    assert token.token_type == "DPoP"
    v = verifier_for(broker)
    url = f"{APP}/docs/README.md"
    proof = writ.create_dpop_proof(key, "GET", url, access_token=token.access_token)
    claims = v.verify(token.access_token, scheme="DPoP", dpop_proof=proof, method="GET", url=url)
    assert claims["cnf"]["jkt"] == key.thumbprint
    # The same token without a proof is refused: a stolen bound token is useless.
    with pytest.raises(Exception) as refused:
        v.verify(token.access_token)
    assert getattr(refused.value, "code", None) == "invalid_token"


def test_wrong_secret_is_a_typed_invalid_client(broker: Broker) -> None:
    with pytest.raises(WritClientError) as err:
        writ.request_token(broker.url, ClientSecret("agent-a", "wrong"), docs_manifest())
    assert err.value.code == "invalid_client" and err.value.status == 401


def test_a_grant_outside_policy_is_a_typed_error_naming_the_problem(broker: Broker) -> None:
    manifest = docs_manifest(grants=[{"type": "repo", "actions": ["delete"], "locations": [APP]}])
    with pytest.raises(WritClientError) as err:
        writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), manifest)
    assert err.value.code in ("access_denied", "invalid_authorization_details", "invalid_request")
    assert err.value.status in (400, 403)


def test_an_unreachable_broker_is_a_network_error() -> None:
    with pytest.raises(WritClientError) as err:
        writ.request_token("http://127.0.0.1:9", ClientSecret("agent-a", SECRET_A), docs_manifest())
    assert err.value.code == "network_error"


def refused_code(broker: Broker, token: str) -> str:
    live = Verifier(issuer=broker.url, audience=APP, jwks_uri=f"{broker.url}/.well-known/jwks.json",
                    liveness=RedisLiveness(REDIS_URL, key_prefix=broker.prefix))
    try:
        live.verify(token)
        return "ok"
    except VerifierError as err:
        return err.code
    finally:
        live.close()


def test_revoke_ends_the_grant_at_the_broker(broker: Broker) -> None:
    creds = ClientSecret("agent-a", SECRET_A)
    token = writ.request_token(broker.url, creds, docs_manifest())
    assert refused_code(broker, token.access_token) == "ok"
    writ.revoke(broker.url, creds, token.access_token)
    assert refused_code(broker, token.access_token) == "token_revoked"
    # A private_key_jwt client revokes its own token too (asyncio variant).
    jwt_creds = PrivateKeyJwt("agent-jwt", broker.jwt_key, key_id="agent-jwt-1")
    other = writ.request_token(broker.url, jwt_creds, docs_manifest())
    asyncio.run(writ.aio.revoke(broker.url, jwt_creds, other.access_token))
    assert refused_code(broker, other.access_token) == "token_revoked"
