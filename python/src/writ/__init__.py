"""writ for Python.

The agent side: ``request_token`` (sync; ``writ.aio.request_token`` for asyncio), ``revoke``,
``TokenAuth`` (httpx), ``DpopKey``. The service side lives in ``writ.verifier``.
"""

from ._flow import ClientSecret, PendingApproval, PrivateKeyJwt, TokenResult
from . import aio
from .client import TokenAuth, request_token, revoke
from .dpop import DpopKey, create_dpop_proof
from .errors import WritClientError

__all__ = [
    "ClientSecret",
    "DpopKey",
    "PendingApproval",
    "PrivateKeyJwt",
    "TokenAuth",
    "TokenResult",
    "WritClientError",
    "create_dpop_proof",
    "request_token",
    "revoke",
]
