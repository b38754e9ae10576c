"""Revocation propagation at Python verifiers (python/, RedisLiveness), for bench/python-verify.js:
the time from sending POST /oauth/revoke until every verifier refuses the token. Prints JSON."""

import base64
import http.client as http_client
import json
import sys
import time
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, sys.argv[1])

import httpx  # noqa: E402

from writ.verifier import RedisLiveness, Verifier, VerifierError  # noqa: E402

_, _, base, secret, prefix, redis_url, revocations, count = sys.argv
AUDIENCE = "https://git.example.com/acme/app"
verifiers = [Verifier(issuer=base, audience=AUDIENCE, jwks_uri=f"{base}/.well-known/jwks.json",
                      liveness=RedisLiveness(redis_url, key_prefix=prefix)) for _ in range(int(count))]
deadline = time.monotonic() + 10
while not all(v.status()["subscribed"] for v in verifiers):
    if time.monotonic() > deadline:
        raise SystemExit("verifiers did not subscribe")
    time.sleep(0.01)


def outcome(v: Verifier, token: str) -> str:
    try:
        v.verify(token)
        return "ok"
    except VerifierError as err:
        return err.code


http = httpx.Client(auth=("bench-agent", secret))
revoke = http_client.HTTPConnection(urlsplit(base).hostname, urlsplit(base).port)
revoke_headers = {"content-type": "application/x-www-form-urlencoded",
                  "authorization": "Basic " + base64.b64encode(f"bench-agent:{secret}".encode()).decode()}
samples = []
for i in range(int(revocations) + 20):
    res = http.post(f"{base}/oauth/token", data={"grant_type": "client_credentials", "task_id": "BENCH-VERIFY",
                    "authorization_details": json.dumps([{"type": "repo", "actions": ["read"], "locations": [AUDIENCE], "identifier": "docs/**"}])})
    token = res.json()["access_token"]
    assert all(outcome(v, token) == "ok" for v in verifiers)
    start = time.perf_counter()
    # http.client sends a short body in the same write as the headers; httpx writes them apart,
    # and Nagle's algorithm with delayed ACKs then adds ~40 ms to the revoke call itself.
    revoke.request("POST", "/oauth/revoke", body=urlencode({"token": token}), headers=revoke_headers)
    answer = revoke.getresponse()
    answer.read()
    assert answer.status == 200
    pending = set(range(len(verifiers)))
    while pending:
        pending = {i for i in pending if outcome(verifiers[i], token) != "token_revoked"}
        # Yield the GIL to the subscriber threads, as the JS loop yields to I/O between rounds.
        time.sleep(0.0005)
        if time.perf_counter() - start > 5:
            raise SystemExit("a verifier still accepts a revoked token after 5 s")
    if i >= 20:
        samples.append((time.perf_counter() - start) * 1000)
for v in verifiers:
    v.close()
samples.sort()
pct = lambda p: samples[min(len(samples) - 1, -(-p * len(samples) // 100) - 1)]  # noqa: E731
print(json.dumps({"verifiers": len(verifiers), "revocations": len(samples),
                  "allRejectingMs": {"p50": round(pct(50), 2), "p99": round(pct(99), 2), "max": round(samples[-1], 2)}}))
