"""Delegation from Python (RFC 8693 token exchange) against the real broker: a narrower child with
``act``, refusals as typed errors, DPoP-bound parents, and the revocation cascade."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Dict, Iterator, List, Sequence

import httpx
import pytest
import redis

import writ
from writ import ClientSecret, DpopKey, ExchangeTokenResult, PrivateKeyJwt, WritClientError
from writ.verifier import NoLiveness, RedisLiveness, Verifier, VerifierError
from writ.verifier.liveness import grant_key

from .conftest import APP, REDIS_URL, SECRET_A, SECRET_SUB, Broker, docs_manifest

PARENT = ClientSecret("agent-a", SECRET_A)
SUB = ClientSecret("agent-sub", SECRET_SUB)


def guide(actions: Sequence[str] = ("read",), identifier: str = "docs/guide/*") -> List[Dict[str, Any]]:
    return [{"type": "repo", "actions": list(actions), "locations": [APP], "identifier": identifier}]


def verify(broker: Broker, token: str) -> Dict[str, Any]:
    v = Verifier(issuer=broker.url, audience=APP, jwks_uri=f"{broker.url}/.well-known/jwks.json", liveness=NoLiveness())
    return dict(v.verify(token))


def introspect(broker: Broker, credentials: ClientSecret, token: str) -> Dict[str, Any]:
    """RFC 7662 at the broker, as the token's own client."""
    res = httpx.post(f"{broker.url}/oauth/introspect", data={"token": token},
                     auth=(credentials.client_id, credentials.client_secret))
    assert res.status_code == 200, res.text
    answer: Dict[str, Any] = res.json()
    return answer


class Recorder:
    """An httpx client that keeps every request it sends to the broker."""

    def __init__(self) -> None:
        self.sent: List[httpx.Request] = []
        self.http = httpx.Client(timeout=10.0, event_hooks={"request": [self.sent.append]})


@pytest.fixture
def rec() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.http.close()


def test_a_narrower_child_is_issued_to_the_receiver_and_carries_act(broker: Broker) -> None:
    parent = writ.request_token(broker.url, PARENT, docs_manifest())
    child = writ.exchange_token(broker.url, SUB, parent.access_token, guide(), ttl="2m")
    assert isinstance(child, ExchangeTokenResult)
    assert child.parent_grant_id == parent.grant_id and child.grant_id not in ("", parent.grant_id)
    assert (child.token_type, child.expires_in, child.scope) == ("Bearer", 120, "repo:read")
    assert child.authorization_details == guide()
    claims = verify(broker, child.access_token)
    # RFC 8693 §4.1: the chain's subject stays; the holder is the actor.
    assert claims["sub"] == "agent-a" and claims["client_id"] == "agent-sub"
    assert claims["act"] == {"sub": "agent-sub"}
    assert claims["parent_grant"] == parent.grant_id and claims["task"]["id"] == "JIRA-4711"


def test_asyncio_variant_with_a_private_key_jwt_receiver(broker: Broker) -> None:
    parent = writ.request_token(broker.url, PARENT, docs_manifest())
    receiver = PrivateKeyJwt("agent-jwt", broker.jwt_key, key_id="agent-jwt-1")
    child = asyncio.run(writ.aio.exchange_token(broker.url, receiver, parent.access_token, guide(), ttl=60))
    assert child.parent_grant_id == parent.grant_id and child.expires_in == 60
    assert verify(broker, child.access_token)["act"] == {"sub": "agent-jwt"}


def test_a_child_wider_than_its_parent_is_refused_with_a_typed_error(broker: Broker) -> None:
    parent = writ.request_token(broker.url, PARENT, docs_manifest())  # docs/** read only
    for wider in (guide(["write"], "docs/**"), guide(["read"], "src/**"), guide(["read"], "**")):
        with pytest.raises(WritClientError) as err:
            writ.exchange_token(broker.url, SUB, parent.access_token, wider)
        assert (err.value.code, err.value.status) == ("invalid_authorization_details", 400), wider
    # A life longer than the parent has left is refused too (the parent has at most 10 minutes).
    with pytest.raises(WritClientError) as err:
        writ.exchange_token(broker.url, SUB, parent.access_token, guide(), ttl="1h")
    assert err.value.code == "invalid_request" and "ttl" in err.value.message


def test_a_client_the_parent_may_not_delegate_to_is_unauthorized(broker: Broker) -> None:
    parent = writ.request_token(broker.url, PARENT, docs_manifest())
    # agent-a's delegate_to lists agent-sub and agent-jwt, not agent-a itself.
    with pytest.raises(WritClientError) as err:
        writ.exchange_token(broker.url, PARENT, parent.access_token, guide())
    assert (err.value.code, err.value.status) == ("unauthorized_client", 400)
    assert "delegate_to" in err.value.message


def test_a_dpop_bound_parent_needs_a_proof_of_its_key(broker: Broker, rec: Recorder) -> None:
    parent_key, thief_key, sub_key = DpopKey.generate(), DpopKey.generate(), DpopKey.generate()
    parent = writ.request_token(broker.url, PARENT, docs_manifest(), dpop_key=parent_key)
    assert parent.token_type == "DPoP"
    # A stolen bound token alone cannot be delegated ...
    with pytest.raises(WritClientError) as err:
        writ.exchange_token(broker.url, SUB, parent.access_token, guide())
    assert err.value.code == "invalid_request" and "subject_token_dpop" in err.value.message
    # ... nor with a proof of the thief's own key.
    with pytest.raises(WritClientError) as err:
        writ.exchange_token(broker.url, SUB, parent.access_token, guide(), subject_dpop_key=thief_key)
    assert err.value.code == "invalid_dpop_proof"
    # The parent's key proves possession; the child is bound to the receiver's own key. The broker
    # requires server nonces: the first attempt is answered use_dpop_nonce and both proofs are
    # made again with it.
    child = writ.exchange_token(broker.url, SUB, parent.access_token, guide(), dpop_key=sub_key,
                                subject_dpop_key=parent_key, http=rec.http)
    assert len(rec.sent) == 2
    assert child.token_type == "DPoP" and child.parent_grant_id == parent.grant_id
    claims = verify_bound(broker, child.access_token, sub_key)
    assert claims["cnf"] == {"jkt": sub_key.thumbprint} and claims["act"] == {"sub": "agent-sub"}


def verify_bound(broker: Broker, token: str, key: DpopKey) -> Dict[str, Any]:
    v = Verifier(issuer=broker.url, audience=APP, jwks_uri=f"{broker.url}/.well-known/jwks.json", liveness=NoLiveness())
    url = f"{APP}/docs/guide/intro.md"
    proof = writ.create_dpop_proof(key, "GET", url, access_token=token)
    return dict(v.verify(token, scheme="DPoP", dpop_proof=proof, method="GET", url=url))


def test_a_dpop_bound_parent_delegated_to_a_bearer_child_with_only_the_parents_proof(broker: Broker) -> None:
    parent_key = DpopKey.generate()
    parent = writ.request_token(broker.url, PARENT, docs_manifest(), dpop_key=parent_key)
    child = asyncio.run(writ.aio.exchange_token(broker.url, SUB, parent.access_token, guide(), subject_dpop_key=parent_key))
    assert child.token_type == "Bearer"
    claims = verify(broker, child.access_token)
    assert "cnf" not in claims and claims["parent_grant"] == parent.grant_id


def server_nonce(broker: Broker) -> str:
    """A DPoP nonce, as the parent's holder learns it from any DPoP request to the token endpoint."""
    probe = writ.create_dpop_proof(DpopKey.generate(), "POST", f"{broker.url}/oauth/token")
    res = httpx.post(f"{broker.url}/oauth/token", data={}, headers={"dpop": probe})
    return res.headers["dpop-nonce"]


def test_a_proof_made_by_the_parents_holder_is_handed_over_instead_of_its_key(broker: Broker) -> None:
    parent_key = DpopKey.generate()
    parent = writ.request_token(broker.url, PARENT, docs_manifest(), dpop_key=parent_key)
    endpoint = f"{broker.url}/oauth/token"
    # A ready proof is not this client's to remake: without the nonce the broker wants, it fails.
    stale = writ.create_dpop_proof(parent_key, "POST", endpoint, access_token=parent.access_token)
    with pytest.raises(WritClientError) as err:
        writ.exchange_token(broker.url, SUB, parent.access_token, guide(), subject_token_proof=stale)
    assert err.value.code == "use_dpop_nonce"
    proof = writ.create_dpop_proof(parent_key, "POST", endpoint, access_token=parent.access_token,
                                   nonce=server_nonce(broker))
    child = writ.exchange_token(broker.url, SUB, parent.access_token, guide(), subject_token_proof=proof)
    assert child.parent_grant_id == parent.grant_id
    # The proof is single-use: replaying it is refused.
    with pytest.raises(WritClientError) as err:
        writ.exchange_token(broker.url, SUB, parent.access_token, guide(), subject_token_proof=proof)
    assert err.value.code == "invalid_dpop_proof"


def test_revoking_the_parent_makes_the_child_inactive(broker: Broker) -> None:
    parent = writ.request_token(broker.url, PARENT, docs_manifest())
    child = writ.exchange_token(broker.url, SUB, parent.access_token, guide())
    assert introspect(broker, SUB, child.access_token)["active"] is True
    live = Verifier(issuer=broker.url, audience=APP, jwks_uri=f"{broker.url}/.well-known/jwks.json",
                    liveness=RedisLiveness(REDIS_URL, key_prefix=broker.prefix))
    try:
        assert live.verify(child.access_token)["client_id"] == "agent-sub"
        writ.revoke(broker.url, PARENT, parent.access_token)
        assert introspect(broker, SUB, child.access_token) == {"active": False}
        with pytest.raises(VerifierError) as refused:
            live.verify(child.access_token)
        assert refused.value.code == "token_revoked"
    finally:
        live.close()
    # Nor can the revoked parent be exchanged again.
    with pytest.raises(WritClientError) as err:
        writ.exchange_token(broker.url, SUB, parent.access_token, guide())
    assert err.value.code == "invalid_request" and "revoked" in err.value.message


def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Waits for ``condition``, failing the test when it does not come true in time."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "still not true"
        time.sleep(0.01)


def test_a_child_ends_with_its_root_before_the_cascade_reaches_its_record(broker: Broker) -> None:
    """The attack: the child's own record outlives its revoked parent (the cascade not there yet).
    Only the parent's record is taken out, and the message naming it published, as the broker does."""
    parent = writ.request_token(broker.url, PARENT, docs_manifest())
    child = writ.exchange_token(broker.url, SUB, parent.access_token, guide())
    assert verify(broker, child.access_token)["ancestor_grants"] == [{"client_id": "agent-a", "grant_id": parent.grant_id}]
    jwks = f"{broker.url}/.well-known/jwks.json"
    cached = Verifier(issuer=broker.url, audience=APP, jwks_uri=jwks,
                      liveness=RedisLiveness(REDIS_URL, key_prefix=broker.prefix, cache_ttl_seconds=3600))
    r = redis.Redis.from_url(REDIS_URL)
    try:
        # Confirmations are cached once the subscription is up.
        until(lambda: cached.verify(child.access_token) is not None and cached.liveness.status()["cached_grants"] == 1)
        assert r.delete(grant_key(broker.prefix, "agent-a", parent.grant_id)) == 1
        assert r.exists(grant_key(broker.prefix, "agent-sub", child.grant_id)) == 1
        fresh = Verifier(issuer=broker.url, audience=APP, jwks_uri=jwks,
                         liveness=RedisLiveness(REDIS_URL, key_prefix=broker.prefix))
        try:
            with pytest.raises(VerifierError) as refused:
                fresh.verify(child.access_token)
            assert refused.value.code == "token_revoked" and parent.grant_id in refused.value.message
        finally:
            fresh.close()
        # The verifier that holds the child as confirmed live drops it on the message naming the parent.
        message = '{"v":1,"grants":[{"id":"%s","clientId":"agent-a","exp":0}]}' % parent.grant_id
        r.publish(f"{broker.prefix}revocations", message)
        until(lambda: cached.liveness.status()["cached_grants"] == 0)
        with pytest.raises(VerifierError) as refused:
            cached.verify(child.access_token)
        assert refused.value.code == "token_revoked"
    finally:
        cached.close()
        r.close()
    assert introspect(broker, SUB, child.access_token) == {"active": False}


@pytest.mark.parametrize(
    "args, kwargs, field",
    [
        (("", guide()), {}, "subject_token"),
        (("t", {"type": "repo"}), {}, "grants"),
        (("t", []), {}, "grants"),
        (("t", ["repo:read"]), {}, "grants"),
        (("t", guide()), {"ttl": 1.5}, "ttl"),
        (("t", guide()), {"subject_dpop_key": DpopKey.generate(), "subject_token_proof": "x.y.z"}, "subject_token_proof"),
    ],
)
def test_bad_arguments_name_the_argument_before_any_request(args: Any, kwargs: Any, field: str, rec: Recorder) -> None:
    with pytest.raises(TypeError) as err:
        writ.exchange_token("http://127.0.0.1:9", SUB, *args, http=rec.http, **kwargs)
    assert field in str(err.value) and rec.sent == []
