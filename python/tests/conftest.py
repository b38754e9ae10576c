"""Fixtures: a real broker (``node dist/main.js``) on the real Redis with a unique key prefix, and the
repo's software authenticator (through test/python/authenticator-bridge.ts) to approve over HTTP."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import ec

from writ._jwk import public_jwk

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
ADMIN_TOKEN = "writ-python-admin-" + secrets.token_hex(16)
SECRET_A = "secret-a: with spaces & symbols/+%"
SECRET_SUB = "secret-sub-" + secrets.token_hex(8)
APP = "https://git.example.com/acme/app"
DEPLOY = "https://deploy.example.com/acme/app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bridge:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", "--import", "tsx", "test/python/authenticator-bridge.ts"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.lock = threading.Lock()

    def call(self, op: str, **params: Any) -> Any:
        with self.lock:
            assert self.proc.stdin and self.proc.stdout
            self.proc.stdin.write(json.dumps({"op": op, **params}) + "\n")
            self.proc.stdin.flush()
            answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def bridge() -> Iterator[Bridge]:
    b = Bridge()
    yield b
    b.close()


@dataclass
class Broker:
    url: str
    prefix: str
    jwt_key: ec.EllipticCurvePrivateKey
    bridge: Bridge
    proc: subprocess.Popen
    enrolled: Dict[str, str] = field(default_factory=dict)

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, **kw)

    def enrol(self, who: str, group: str = "release-managers") -> None:
        """Enrols a security key for who@example.com through the admin API and the ceremony."""
        if who in self.enrolled:
            return
        invite = self.admin("POST", "/admin/approvers/invites", json={"approver": f"{who}@example.com", "group": group})
        assert invite.status_code == 201, invite.text
        path = httpx.URL(invite.json()["invite_url"]).path
        options = httpx.post(self.url + path + "/options", json={}).json()
        registration = self.bridge.call("register", who=who, origin=self.url, options=options)
        res = httpx.post(self.url + path + "/verify", json=registration)
        assert res.status_code == 200, res.text
        self.enrolled[who] = res.json()["credential_id"]

    def decide(self, auth_req_id: str, who: str, action: str = "approve") -> httpx.Response:
        """An approver answers an approval request with their security key, over HTTP."""
        request_id = auth_req_id.split(".")[0]
        options = httpx.post(f"{self.url}/approve/{request_id}/options", json={"action": action})
        assert options.status_code == 200, options.text
        assertion = self.bridge.call("assert", who=who, options=options.json())
        return httpx.post(f"{self.url}/approve/{request_id}/{'verify' if action == 'approve' else 'deny'}", json=assertion)


def start_broker(bridge: Bridge, approvals: Dict[str, Any]) -> Broker:
    dist = ROOT / "dist" / "main.js"
    if not dist.exists():
        subprocess.run(["npm", "run", "build"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    workdir = Path(tempfile.mkdtemp(prefix="writ-python-"))
    pki = bridge.call("pki")
    (workdir / "root.pem").write_text(pki["rootPem"])
    jwt_key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**public_jwk(jwt_key), "kid": "agent-jwt-1", "alg": "ES256"}
    policy = {
        "version": 1,
        "clients": [
            {"id": "agent-a", "auth": "client_secret", "secret_hash": bridge.call("hash", secret=SECRET_A)["hash"],
             "rules": ["docs-read", "docs-write", "deploy-prod"],
             # Delegation (RFC 8693): agent-a may hand narrower tokens to agent-sub and agent-jwt, one hop.
             "delegate_to": {"clients": ["agent-sub", "agent-jwt"], "max_depth": 1}},
            {"id": "agent-sub", "auth": "client_secret", "secret_hash": bridge.call("hash", secret=SECRET_SUB)["hash"]},
            {"id": "agent-jwt", "auth": "private_key_jwt", "jwks": {"keys": [jwk]}, "rules": ["docs-read", "deploy-prod"]},
        ],
        "approver_groups": [{"id": "release-managers", "members": ["alice@example.com", "bob@example.com"]}],
        "rules": [
            {"id": "docs-read", "match": {"type": "repo", "actions": ["read"], "locations": ["https://git.example.com/acme/*"],
                                          "identifier": "docs/**"}, "max_ttl": "15m", "approval": "none"},
            {"id": "docs-write", "match": {"type": "repo", "actions": ["write"], "locations": [APP], "identifier": "docs/**"},
             "max_ttl": "5m", "approval": "none"},
            {"id": "deploy-prod", "match": {"type": "deploy", "actions": ["create"], "locations": [DEPLOY]},
             "max_ttl": "10m", "approval": {"approvers": 1, "from": "release-managers"}},
        ],
    }
    (workdir / "policy.json").write_text(json.dumps(policy))
    config = {
        "limits": {"clientRequestsPerSecond": 100000, "clientBurst": 100000},
        "approvals": {
            "pollIntervalSeconds": 1,
            "attestation": {"rootCertificateFiles": [str(workdir / "root.pem")], "allowedAaguids": [pki["aaguid"]]},
            **approvals,
        },
    }
    (workdir / "config.json").write_text(json.dumps(config))
    port = free_port()
    url = f"http://localhost:{port}"
    prefix = f"writ-python-{secrets.token_hex(4)}:"
    env = {
        "PATH": os.environ["PATH"],
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WRIT_ISSUER": url,
        "REDIS_URL": REDIS_URL,
        "WRIT_KEY_PREFIX": prefix,
        "WRIT_KEK": secrets.token_urlsafe(32),
        "WRIT_POLICY": str(workdir / "policy.json"),
        "WRIT_CONFIG": str(workdir / "config.json"),
        "WRIT_ADMIN_TOKEN_HASH": bridge.call("hash", secret=ADMIN_TOKEN)["hash"],
        "WRIT_ADMIN_BOOTSTRAP": "false",
        "WRIT_LOG_LEVEL": "warn",
    }
    import base64

    env["WRIT_KEK"] = base64.b64encode(secrets.token_bytes(32)).decode()
    proc = subprocess.Popen(["node", "dist/main.js"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the broker did not start")
        time.sleep(0.1)
    return Broker(url=url, prefix=prefix, jwt_key=jwt_key, bridge=bridge, proc=proc)


def stop_broker(broker: Broker) -> None:
    broker.proc.terminate()
    broker.proc.wait(timeout=10)
    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(match=f"{broker.prefix}*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture(scope="session")
def broker(bridge: Bridge) -> Iterator[Broker]:
    b = start_broker(bridge, {})
    yield b
    stop_broker(b)


@pytest.fixture(scope="session")
def short_broker(bridge: Bridge) -> Iterator[Broker]:
    """Approval requests expire after 3 seconds."""
    b = start_broker(bridge, {"timeoutSeconds": 3})
    yield b
    stop_broker(b)


def docs_manifest(**overrides: Any) -> Dict[str, Any]:
    return {
        "task": {"id": "JIRA-4711", "purpose": "Organize the project documentation", "requested_by": "carol@example.com"},
        "ttl": "10m",
        "grants": [{"type": "repo", "actions": ["read"], "locations": [APP], "identifier": "docs/**"}],
        **overrides,
    }


def deploy_manifest() -> Dict[str, Any]:
    return {
        "task": {"id": "REL-42", "purpose": "Deploy release 4.2 to production", "requested_by": "carol@example.com"},
        "ttl": "5m",
        "grants": [{"type": "deploy", "actions": ["create"], "locations": [DEPLOY]}],
    }
