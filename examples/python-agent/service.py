"""An example downstream service in FastAPI: a docs store that accepts only writ tokens, checked by
the Python verifier (signature, DPoP, live revocation through Redis) and ``authorize``."""

from __future__ import annotations

import os
from typing import Any, Dict

from fastapi import Depends, FastAPI

from writ.verifier import NoLiveness, RedisLiveness, Verifier, VerifierError
from writ.verifier.starlette import WritAuth, add_error_handler

APP_LOCATION = "https://git.example.com/acme/app"


def create_service(verifier: Verifier) -> FastAPI:
    auth = WritAuth(verifier)
    app = FastAPI()
    add_error_handler(app)
    docs: Dict[str, str] = {"README.md": "# acme/app\n"}

    @app.get("/docs/{path:path}")
    async def read(path: str, claims: Dict[str, Any] = Depends(auth)) -> Dict[str, Any]:
        try:
            verifier.authorize(claims, "repo", "read", identifier=f"docs/{path}")
        except VerifierError as err:
            raise auth.forbid(err) from err
        return {"path": path, "content": docs.get(path, ""), "task": claims.get("task", {}).get("id")}

    return app


def main() -> None:  # pragma: no cover - `python service.py` for trying it by hand
    import uvicorn

    broker = os.environ.get("WRIT_URL", "http://localhost:8080")
    redis_url = os.environ.get("REDIS_URL")
    verifier = Verifier(
        issuer=broker,
        audience=APP_LOCATION,
        jwks_uri=f"{broker}/.well-known/jwks.json",
        liveness=RedisLiveness(redis_url) if redis_url else NoLiveness(),
    )
    uvicorn.run(create_service(verifier), host="127.0.0.1", port=int(os.environ.get("PORT", "9000")))


if __name__ == "__main__":
    main()
