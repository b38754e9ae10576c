"""Liveness: is the token's grant still live? ``RedisLiveness`` asks the broker's grant store and
subscribes to its revocation channel (the wire contract of ``src/wire/``), failing closed."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Mapping, Optional, Protocol, Sequence, Set, Tuple

from .errors import VerifierError

__all__ = ["Liveness", "NoLiveness", "RedisLiveness", "grant_key", "encode_key_part"]

_ESCAPES = {"%": "%25", "{": "%7B", "}": "%7D", ":": "%3A"}


def encode_key_part(value: str) -> str:
    """``src/wire/keys.ts``'s ``encodeKeyPart``: ``%``, ``{``, ``}``, ``:`` as ``%XX``."""
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def grant_key(prefix: str, client_id: str, grant_id: str) -> str:
    """The grant record's key: ``<prefix>{c:<client>}:g:<grant>``."""
    return f"{prefix}{{c:{encode_key_part(client_id)}}}:g:{encode_key_part(grant_id)}"


class KeySetListener(Protocol):
    def keep_only(self, kids: Sequence[str]) -> None: ...

    def refresh_soon(self) -> None: ...


class Liveness(Protocol):
    def attach(self, keys: KeySetListener) -> None: ...

    def check(self, claims: Mapping[str, Any], claims_sha256: str) -> None: ...

    def status(self) -> Dict[str, Any]: ...

    def close(self) -> None: ...


class NoLiveness:
    """Signature and expiry only: a revoked token keeps verifying until it expires."""

    def attach(self, keys: KeySetListener) -> None:
        pass

    def check(self, claims: Mapping[str, Any], claims_sha256: str) -> None:
        pass

    def status(self) -> Dict[str, Any]:
        return {"mode": "none"}

    def close(self) -> None:
        pass


def _unavailable(message: str) -> VerifierError:
    return VerifierError("liveness_unavailable", message)


def _recorded_digest(record: str) -> Optional[str]:
    parsed = json.loads(record)
    if not isinstance(parsed, dict):
        raise ValueError("the grant record is not a JSON object")
    digest = parsed.get("claims_sha256")
    if digest is not None and not isinstance(digest, str):
        raise ValueError("the grant record's claims_sha256 is not a string")
    return digest


class RedisLiveness:
    """Asks the grant store directly, as ``writ/verifier``'s ``redis`` mode does.

    A grant is live while its record exists, and a token passes only when its claims digest is the
    one recorded with the grant. A delegated token is live only while every grant above it (its
    ``ancestor_grants``) has its record too: revoking any of them ends it at once, and a revocation
    message naming one drops every cached grant delegated from it. Confirmations are cached (at
    most ``cache_size`` grants, each at most ``cache_ttl_seconds``) only while the subscription to
    ``<prefix>revocations`` is up, and a revocation message drops them at once; a lost subscription
    (closed connection or an unanswered heartbeat) drops the whole cache, and an unreachable store
    refuses every token with ``liveness_unavailable``. The subscription runs in a daemon thread.

    Log in as the ``writ-verifier`` ACL user of ``deploy/redis/users.acl``: it may only read grant
    records and subscribe to the channel.
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "writ:",
        cache_size: int = 10_000,
        cache_ttl_seconds: float = 60,
        command_timeout_ms: int = 1000,
        heartbeat_ms: int = 1000,
        clock: Callable[[], float] = time.time,
        on_error: Optional[Callable[[Exception], None]] = None,
    ) -> None:
        import redis  # the optional dependency: pip install writ[redis]

        if "{" in key_prefix or "}" in key_prefix:
            raise ValueError('the key prefix must not contain "{" or "}"')
        self._prefix = key_prefix
        self._channel = f"{key_prefix}revocations"
        self._timeout = command_timeout_ms / 1000
        self._heartbeat = heartbeat_ms / 1000
        self._cache_size = cache_size
        self._cache_ttl = cache_ttl_seconds
        self._clock = clock
        self._on_error = on_error or (lambda err: None)
        self._url = url
        self._redis = redis
        self._commands = redis.Redis.from_url(
            url, socket_timeout=self._timeout, socket_connect_timeout=max(self._timeout, 2.0), retry_on_timeout=False
        )
        self._lock = threading.Lock()
        # Confirmed live grants: (recorded digest, expiry, the keys of the grants above it).
        self._cache: "OrderedDict[Tuple[str, str], Tuple[Optional[str], float, Tuple[Tuple[str, str], ...]]]" = OrderedDict()
        # Cached delegated grants by each grant above them: a message naming one drops its subtree.
        self._below: Dict[Tuple[str, str], Set[Tuple[str, str]]] = {}
        self._epoch = 0
        self._subscribed = False
        self._ever_subscribed = False
        self._closed = False
        self._keys: Optional[KeySetListener] = None
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writ-revocations", daemon=True)
        self._thread.start()

    def attach(self, keys: KeySetListener) -> None:
        self._keys = keys

    # --- cache (callers hold the lock) -------------------------------------------------------

    def _remove(self, key: Tuple[str, str]) -> None:
        entry = self._cache.pop(key, None)
        if entry is None:
            return
        for ancestor in entry[2]:
            subtree = self._below.get(ancestor)
            if subtree is not None:
                subtree.discard(key)
                if not subtree:
                    del self._below[ancestor]

    def _drop(self, key: Tuple[str, str]) -> None:
        """Drops a grant, and every cached grant delegated from it at any depth."""
        self._remove(key)
        for descendant in self._below.pop(key, ()):
            self._remove(descendant)

    def _clear(self) -> None:
        self._cache.clear()
        self._below.clear()

    # --- subscription -------------------------------------------------------------------------

    def _lose(self) -> None:
        with self._lock:
            self._subscribed = False
            self._epoch += 1
            self._clear()

    def _on_message(self, data: Any) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        with self._lock:
            self._epoch += 1
            # Ensure anything not understood, and every `all`, drops every confirmation.
            if not isinstance(message, dict) or message.get("v") != 1 or message.get("all") is True:
                self._clear()
                return
            if "keys" in message:
                kids = message["keys"].get("kids") if isinstance(message["keys"], dict) else None
                if not isinstance(kids, list) or not kids or len(kids) > 3 or not all(isinstance(k, str) and k for k in kids):
                    self._clear()
                    return
            else:
                grants = message.get("grants")
                if not isinstance(grants, list):
                    self._clear()
                    return
                for g in grants:
                    if not isinstance(g, dict) or not isinstance(g.get("id"), str) or not isinstance(g.get("clientId"), str):
                        self._clear()
                        return
                    # Ensure a revoked grant's descendants stop verifying with it.
                    self._drop((g["clientId"], g["id"]))
                return
        # Ensure a key the issuer withdrew stops verifying as soon as the change is announced.
        if self._keys is not None:
            self._keys.keep_only(kids)

    def _run(self) -> None:
        backoff = 0.05
        while not self._closed:
            pubsub = None
            try:
                client = self._redis.Redis.from_url(
                    self._url, socket_timeout=self._timeout, socket_connect_timeout=max(self._timeout, 2.0)
                )
                pubsub = client.pubsub()
                pubsub.subscribe(self._channel)
                confirmed = False
                deadline = time.monotonic() + self._timeout
                while not confirmed:
                    msg = pubsub.get_message(timeout=self._timeout)
                    if msg and msg["type"] == "subscribe":
                        confirmed = True
                    elif time.monotonic() > deadline:
                        raise TimeoutError("SUBSCRIBE: no answer in time")
                with self._lock:
                    self._epoch += 1
                    self._clear()
                    self._subscribed = True
                if self._ever_subscribed and self._keys is not None:
                    # Ensure a key-set change announced while the subscription was down is not missed.
                    self._keys.refresh_soon()
                self._ever_subscribed = True
                backoff = 0.05
                ping_sent: Optional[float] = None
                last_ping = time.monotonic()
                while not self._closed:
                    msg = pubsub.get_message(timeout=min(self._heartbeat, 0.2))
                    now = time.monotonic()
                    if msg is not None:
                        if msg["type"] == "message":
                            self._on_message(msg["data"])
                        elif msg["type"] == "pong":
                            ping_sent = None
                        continue
                    if ping_sent is not None and now - ping_sent > self._timeout:
                        # Ensure a silent connection is treated as lost: messages may be going nowhere.
                        raise TimeoutError("PING: no answer in time")
                    if ping_sent is None and now - last_ping >= self._heartbeat:
                        pubsub.ping()
                        ping_sent = last_ping = now
            except Exception as err:  # noqa: BLE001 - any failure is a lost subscription
                if not self._closed:
                    self._on_error(err)
            finally:
                self._lose()
                if pubsub is not None:
                    try:
                        pubsub.connection and pubsub.connection.disconnect()
                        pubsub.close()
                    except Exception:  # noqa: BLE001
                        pass
            if self._closed:
                return
            self._wake.wait(backoff)
            backoff = min(backoff * 2, 2.0)

    # --- checks -------------------------------------------------------------------------------

    def check(self, claims: Mapping[str, Any], claims_sha256: str) -> None:
        # Ensure a closed verifier never accepts.
        if self._closed:
            raise _unavailable("the verifier is closed")
        key = (str(claims["client_id"]), str(claims["jti"]))
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key) if self._subscribed else None
            if entry is not None and entry[1] <= now:
                self._remove(key)
                entry = None
            start_epoch = self._epoch
        if entry is not None:
            if entry[0] is None or entry[0] == claims_sha256:
                return
            # Ensure a token other than the one issued for a grant is refused, even from the cache.
            raise VerifierError("invalid_token", "the token's claims are not the ones issued for its grant")
        ancestors = tuple((a["client_id"], a["grant_id"]) for a in claims.get("ancestor_grants") or ())
        try:
            # The grant's record and whether each grant above it has one, in one round trip.
            pipe = self._commands.pipeline(transaction=False)
            pipe.get(grant_key(self._prefix, key[0], key[1]))
            for client_id, grant_id in ancestors:
                pipe.exists(grant_key(self._prefix, client_id, grant_id))
            record, *above = pipe.execute()
        except Exception as err:  # noqa: BLE001
            # Ensure an unreachable store fails closed.
            raise _unavailable("the grant store cannot be reached to check the token; retry shortly") from err
        # Ensure a grant that is not in the live set is refused: the store is the allow-list.
        if record is None:
            raise VerifierError("token_revoked", "the token has been revoked")
        # Ensure a delegated token ends with any grant above it, before the cascade reaches its record.
        for (_, grant_id), exists in zip(ancestors, above):
            if not exists:
                raise VerifierError(
                    "token_revoked", f"the token has been revoked: grant {grant_id}, which it was delegated from, is not live"
                )
        try:
            digest = _recorded_digest(record.decode("utf-8") if isinstance(record, bytes) else record)
        except ValueError as err:
            raise _unavailable("the grant record is in a form this verifier cannot read; update writ") from err
        # Ensure the token is the one issued for the grant.
        if digest is not None and digest != claims_sha256:
            raise VerifierError("invalid_token", "the token's claims are not the ones issued for its grant")
        with self._lock:
            if self._subscribed and self._epoch == start_epoch and not self._closed:
                expires = min(float(claims["exp"]), self._clock() + self._cache_ttl)
                self._remove(key)
                self._cache[key] = (digest, expires, ancestors)
                for ancestor in ancestors:
                    self._below.setdefault(ancestor, set()).add(key)
                while len(self._cache) > self._cache_size:
                    self._remove(next(iter(self._cache)))

    def status(self) -> Dict[str, Any]:
        with self._lock:
            return {"mode": "redis", "subscribed": self._subscribed, "cached_grants": len(self._cache)}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._lose()
        self._thread.join(timeout=2)
        try:
            self._commands.close()
        except Exception:  # noqa: BLE001
            pass
