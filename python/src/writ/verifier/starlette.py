"""A FastAPI / Starlette dependency that verifies the request's writ token.

Example::

    from fastapi import Depends, FastAPI
    from writ.verifier.starlette import WritAuth, add_error_handler

    auth = WritAuth(verifier)
    app = FastAPI()
    add_error_handler(app)

    @app.get("/docs/{path:path}")
    async def read(path: str, claims: dict = Depends(auth)):
        auth.verifier.authorize(claims, "repo", "read", identifier=f"docs/{path}")
"""

# No `from __future__ import annotations` here: FastAPI reads the annotations of `WritAuth.__call__`
# at run time, and an instance has no module globals to resolve strings against.


from typing import Any, Dict, Optional

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .errors import VerifierError
from .verifier import Verifier

__all__ = ["WritAuth", "WritHTTPException", "add_error_handler"]


class WritHTTPException(HTTPException):
    """A refused token as an HTTP error: the status, ``WWW-Authenticate`` (or ``Retry-After``,
    ``DPoP-Nonce``), and with ``add_error_handler`` an RFC 6749-style JSON body."""

    def __init__(self, error: VerifierError, headers: Dict[str, str]) -> None:
        super().__init__(status_code=error.status, detail=error.message, headers=headers)
        self.error = error


class WritAuth:
    """A dependency returning the verified claims of the request's token.

    ``public_url``: the service's public base URL when it sits behind a proxy that rewrites the
    host or path, so DPoP proofs are checked against the URL the agent called."""

    def __init__(self, verifier: Verifier, public_url: Optional[str] = None) -> None:
        self.verifier = verifier
        self.public_url = public_url.rstrip("/") if public_url else None

    def url_of(self, request: Request) -> str:
        if self.public_url is None:
            return str(request.url)
        return self.public_url + request.url.path

    async def __call__(self, request: Request) -> Dict[str, Any]:
        try:
            # The liveness lookup is blocking I/O: keep it off the event loop.
            return await run_in_threadpool(self.verifier.verify_request, request.method, self.url_of(request), request.headers)
        except VerifierError as err:
            raise WritHTTPException(err, self.verifier.error_headers(err)) from err

    def forbid(self, err: VerifierError) -> WritHTTPException:
        """The exception for a failed ``authorize`` (403 ``insufficient_scope``)."""
        return WritHTTPException(err, self.verifier.error_headers(err))


def add_error_handler(app: Any) -> None:
    """Answers ``WritHTTPException`` (and ``VerifierError`` raised by handlers, e.g. from
    ``authorize``) with ``{"error", "error_description"}`` and the challenge headers."""

    async def on_writ(request: Request, exc: Exception) -> Response:
        err = exc.error if isinstance(exc, WritHTTPException) else exc
        assert isinstance(err, VerifierError)
        headers = exc.headers if isinstance(exc, WritHTTPException) and exc.headers else err.headers()
        return Response(err.body(), status_code=err.status, headers=headers)

    app.add_exception_handler(WritHTTPException, on_writ)
    app.add_exception_handler(VerifierError, on_writ)
