"""Errors of the agent-side client, with the stable codes of ``writ/client``'s ``WritClientError``."""

from __future__ import annotations

from typing import Optional

__all__ = ["WritClientError"]


class WritClientError(Exception):
    """A failed token request, token exchange or revocation.

    ``code`` is the broker's RFC 6749 error code passed through unchanged (``access_denied`` when an
    approver denied, ``expired_token`` when the approval window closed, ``invalid_client``,
    ``invalid_request``, ``invalid_dpop_proof``, ``use_dpop_nonce``; from a token exchange also
    ``invalid_authorization_details`` and ``unauthorized_client``, ...) or one of the client's own:
    ``timeout`` (the caller's ``timeout`` ran out while waiting), ``network_error`` and
    ``unexpected_response``. Switch on ``code``, never on the message.
    """

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"WritClientError(code={self.code!r}, message={self.message!r}, status={self.status!r})"
