"""The Python example: the agent's tool gets a DPoP-bound token and reads from the FastAPI service,
which verifies it with the Python verifier (redis liveness)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

import writ
from writ import ClientSecret
from writ.verifier import RedisLiveness, Verifier

from .conftest import APP, REDIS_URL, ROOT, SECRET_A, Broker, docs_manifest, free_port

sys.path.insert(0, str(ROOT / "examples" / "python-agent"))
from agent import make_agent  # noqa: E402
from service import create_service  # noqa: E402


@pytest.fixture()
def service(broker: Broker):
    verifier = Verifier(issuer=broker.url, audience=APP, jwks_uri=f"{broker.url}/.well-known/jwks.json",
                        liveness=RedisLiveness(REDIS_URL, key_prefix=broker.prefix))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_service(verifier), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)
    verifier.close()


def test_the_tool_reads_with_a_dpop_bound_token_then_revokes_it(broker: Broker, service: str) -> None:
    agent = make_agent(broker.url, ClientSecret("agent-a", SECRET_A), service)
    assert agent.tools["read_doc"].parameters == {"path": "str", "task_id": "str"}
    assert agent.call("read_doc", path="README.md", task_id="JIRA-4711") == "# acme/app\n"


def test_the_service_refuses_what_the_token_does_not_allow(broker: Broker, service: str) -> None:
    key = writ.DpopKey.generate()
    token = writ.request_token(broker.url, ClientSecret("agent-a", SECRET_A), docs_manifest(
        grants=[{"type": "repo", "actions": ["read"], "locations": [APP], "identifier": "docs/guide.md"}]), dpop_key=key)
    with httpx.Client(auth=writ.TokenAuth(token.access_token, key)) as http:
        assert http.get(f"{service}/docs/guide.md").status_code == 200
        denied = http.get(f"{service}/docs/secret.md")
        assert denied.status_code == 403 and denied.json()["error"] == "insufficient_scope"
    # Without the proof the bound token is refused, with a DPoP challenge.
    stolen = httpx.get(f"{service}/docs/guide.md", headers={"authorization": f"Bearer {token.access_token}"})
    assert stolen.status_code == 401 and stolen.headers["www-authenticate"].startswith("DPoP")
    # Revoked: refused at once.
    writ.revoke(broker.url, ClientSecret("agent-a", SECRET_A), token.access_token)
    with httpx.Client(auth=writ.TokenAuth(token.access_token, key)) as http:
        deadline = time.monotonic() + 10
        while (res := http.get(f"{service}/docs/guide.md")).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert res.status_code == 401 and "revoked" in res.json()["error_description"]
