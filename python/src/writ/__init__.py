"""writ for Python.

The agent side: ``request_token`` (sync; ``writ.aio.request_token`` for asyncio), ``exchange_token``
(delegation, RFC 8693), ``revoke``, ``TokenAuth`` (httpx), ``DpopKey``. The service side lives in
``writ.verifier``.
"""

from ._exchange import ExchangeTokenResult
from ._flow import ClientSecret, PendingApproval, PrivateKeyJwt, TokenResult
from . import aio
from .client import TokenAuth, exchange_token, request_token, revoke
from .dpop import DpopKey, create_dpop_proof
from .errors import WritClientError

__all__ = [
    "ClientSecret",
    "DpopKey",
    "ExchangeTokenResult",
    "PendingApproval",
    "PrivateKeyJwt",
    "TokenAuth",
    "TokenResult",
    "WritClientError",
    "create_dpop_proof",
    "exchange_token",
    "request_token",
    "revoke",
]
