"""Approvals waited through, denied and expired, approved with the repo's software authenticator
driven over HTTP while the client polls."""

from __future__ import annotations

import asyncio
import threading

import pytest

import writ
from writ import ClientSecret, DpopKey, PendingApproval, PrivateKeyJwt, WritClientError
from writ.verifier import NoLiveness, Verifier

from .conftest import DEPLOY, SECRET_A, Broker, deploy_manifest


def answer_in_background(broker: Broker, who: str, action: str):
    """An on_pending callback: the approver answers from another thread while the client polls."""
    seen: list = []

    def on_pending(pending: PendingApproval) -> None:
        seen.append(pending)

        def decide() -> None:
            res = broker.decide(pending.auth_req_id, who, action)
            assert res.status_code == 200, res.text

        threading.Thread(target=decide, daemon=True).start()

    return on_pending, seen


def test_waits_through_an_approval_and_gets_an_approved_token(broker: Broker) -> None:
    broker.enrol("alice")
    on_pending, seen = answer_in_background(broker, "alice", "approve")
    token = writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), deploy_manifest(), on_pending=on_pending, timeout=60)
    assert len(seen) == 1 and seen[0].approval_uri and seen[0].interval == 1
    v = Verifier(issuer=broker.url, audience=DEPLOY, jwks_uri=f"{broker.url}/.well-known/jwks.json", liveness=NoLiveness())
    claims = v.verify(token.access_token)
    assert [a["sub"] for a in claims["approval"]["approvers"]] == ["alice@example.com"]
    v.authorize(claims, "deploy", "create")


def test_a_private_key_jwt_client_waits_through_an_approval_with_asyncio_and_dpop(broker: Broker) -> None:
    broker.enrol("bob")
    on_pending, seen = answer_in_background(broker, "bob", "approve")
    key = DpopKey.generate()
    creds = PrivateKeyJwt("agent-jwt", broker.jwt_key, key_id="agent-jwt-1")
    token = asyncio.run(writ.aio.request_token(broker.url, creds, deploy_manifest(), dpop_key=key, on_pending=on_pending, timeout=60))
    assert len(seen) == 1
    assert token.token_type == "DPoP"


def test_a_denial_is_a_typed_access_denied(broker: Broker) -> None:
    broker.enrol("alice")
    on_pending, _ = answer_in_background(broker, "alice", "deny")
    with pytest.raises(WritClientError) as err:
        writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), deploy_manifest(), on_pending=on_pending, timeout=60)
    assert err.value.code == "access_denied"


def test_an_approval_nobody_answers_expires_as_a_typed_expired_token(short_broker: Broker) -> None:
    # Someone could approve (the broker refuses a request nobody could), but nobody does.
    short_broker.enrol("alice")
    seen: list = []
    with pytest.raises(WritClientError) as err:
        writ.request_token(short_broker.url, ClientSecret("agent-a", SECRET_A), deploy_manifest(), on_pending=seen.append, timeout=60)
    assert err.value.code == "expired_token"
    assert len(seen) == 1


def test_the_callers_timeout_ends_the_wait_first(broker: Broker) -> None:
    with pytest.raises(WritClientError) as err:
        writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), deploy_manifest(), timeout=1.5)
    assert err.value.code == "timeout"
