"""The Python verifier's redis liveness against the real broker and Redis: revocations reach it
through the broker's channel, and it fails closed."""

from __future__ import annotations

import time
from typing import Callable

import redis

import writ
from writ import ClientSecret
from writ.verifier import RedisLiveness, Verifier, VerifierError

from .conftest import APP, REDIS_URL, SECRET_A, Broker, docs_manifest


def outcome(v: Verifier, token: str) -> str:
    try:
        v.verify(token)
        return "ok"
    except VerifierError as err:
        return err.code


def eventually(what: str, check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.01)


def live_verifier(broker: Broker, prefix: str | None = None, url: str = REDIS_URL) -> Verifier:
    return Verifier(
        issuer=broker.url, audience=APP, jwks_uri=f"{broker.url}/.well-known/jwks.json",
        liveness=RedisLiveness(url, key_prefix=prefix or broker.prefix, cache_ttl_seconds=3600, command_timeout_ms=500),
    )


def test_after_revoke_returns_every_verifier_refuses_the_token_it_had_cached(broker: Broker) -> None:
    verifiers = [live_verifier(broker) for _ in range(3)]
    try:
        eventually("subscribed", lambda: all(v.status()["subscribed"] for v in verifiers))
        creds = ClientSecret("agent-a", SECRET_A)
        token = writ.request_token(broker.url, creds, docs_manifest()).access_token
        assert [outcome(v, token) for v in verifiers] == ["ok"] * 3
        # Each holds the grant as confirmed live now: only the revocation message can drop it.
        assert all(v.status()["cached_grants"] == 1 for v in verifiers)
        writ.revoke(broker.url, creds, token)
        eventually("every verifier refuses", lambda: all(outcome(v, token) == "token_revoked" for v in verifiers))
    finally:
        for v in verifiers:
            v.close()


def test_trusts_its_cache_until_a_message_drops_the_grant(broker: Broker) -> None:
    v = live_verifier(broker)
    try:
        eventually("subscribed", lambda: v.status()["subscribed"])
        token = writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), docs_manifest())
        assert outcome(v, token.access_token) == "ok"
        r = redis.Redis.from_url(REDIS_URL)
        # Delete the record behind the broker's back: the cache still answers (no lookup) ...
        r.delete(*r.keys(f"{broker.prefix}*:g:{token.grant_id}"))
        assert outcome(v, token.access_token) == "ok"
        # ... until a message names the grant; an "all" message drops everything as well.
        r.publish(f"{broker.prefix}revocations", '{"v":1,"all":true}')
        eventually("the cache dropped", lambda: outcome(v, token.access_token) == "token_revoked")
        r.close()
    finally:
        v.close()


def test_refuses_a_token_whose_grant_was_never_recorded_under_its_prefix(broker: Broker) -> None:
    v = live_verifier(broker, prefix="writ-python-elsewhere:")
    try:
        token = writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), docs_manifest())
        assert outcome(v, token.access_token) == "token_revoked"
    finally:
        v.close()


def test_fails_closed_when_redis_cannot_be_reached(broker: Broker) -> None:
    v = live_verifier(broker, url="redis://127.0.0.1:9")
    try:
        token = writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), docs_manifest())
        with __import__("pytest").raises(VerifierError) as err:
            v.verify(token.access_token)
        assert err.value.code == "liveness_unavailable" and err.value.status == 503
        assert v.error_headers(err.value)["Retry-After"] == "1"
    finally:
        v.close()
    # A closed verifier never accepts.
    assert outcome(v, token.access_token) == "liveness_unavailable"


def test_a_token_with_other_claims_under_a_live_grant_id_is_refused(broker: Broker) -> None:
    v = live_verifier(broker)
    try:
        eventually("subscribed", lambda: v.status()["subscribed"])
        token = writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), docs_manifest())
        assert outcome(v, token.access_token) == "ok"
        from writ.verifier.verifier import claims_sha256

        # The digest the liveness check compares is the recorded one: another payload differs.
        claims = v.verify(token.access_token)
        try:
            v.liveness.check(claims, claims_sha256("x.eyJvdGhlciI6MX0.y"))
            raise AssertionError("accepted other claims")
        except VerifierError as err:
            assert err.code == "invalid_token"
    finally:
        v.close()


def test_a_key_set_announcement_withdraws_the_kids_it_does_not_list_at_once(broker: Broker) -> None:
    v = live_verifier(broker)
    try:
        eventually("subscribed", lambda: v.status()["subscribed"])
        token = writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), docs_manifest())
        assert outcome(v, token.access_token) == "ok"
        # The broker announces on its revocation channel the kids it publishes from now on.
        r = redis.Redis.from_url(REDIS_URL)
        r.publish(f"{broker.prefix}revocations", '{"v":1,"keys":{"kids":["a-newer-key"]}}')
        r.close()
        # The token's kid is refused at once, although the JWKS (not refetched) still lists it.
        eventually("the old kid is refused", lambda: outcome(v, token.access_token) == "invalid_token")
    finally:
        v.close()
