"""Delegation (RFC 8693 token exchange) as a sans-I/O generator, driven by ``writ.client`` and
``writ.aio`` like the token request in ``_flow``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

from ._flow import Credentials, Flow, TokenResult, _Client, _error_from, _read_json, _result
from .dpop import DpopKey, create_dpop_proof

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@dataclass(frozen=True, kw_only=True)
class ExchangeTokenResult(TokenResult):
    """The delegated token, with the grant of the parent it came from."""

    parent_grant_id: str


def _check_arguments(
    subject_token: Any,
    grants: Any,
    ttl: Any,
    subject_dpop_key: Optional[DpopKey],
    subject_token_proof: Optional[str],
) -> None:
    if not isinstance(subject_token, str) or not subject_token:
        raise TypeError("subject_token: the parent's access token, a non-empty string")
    if isinstance(grants, (str, bytes, Mapping)) or not isinstance(grants, Sequence) or not grants:
        raise TypeError("grants: a non-empty list of grants (mappings with type, actions, ...)")
    if not all(isinstance(g, Mapping) for g in grants):
        raise TypeError("grants: every grant is a mapping with type, actions, ...")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (str, int))):
        raise TypeError("ttl: a duration such as '5m' or '90s', or seconds as an int")
    if subject_dpop_key is not None and subject_token_proof is not None:
        raise TypeError("subject_dpop_key, subject_token_proof: give at most one (the key makes the proof)")
    if subject_token_proof is not None and (not isinstance(subject_token_proof, str) or not subject_token_proof):
        raise TypeError("subject_token_proof: a DPoP proof JWT made by the parent's holder")


def exchange_flow(
    broker: str,
    credentials: Credentials,
    subject_token: str,
    grants: Sequence[Mapping[str, Any]],
    ttl: Optional[Union[str, int]],
    dpop_key: Optional[DpopKey],
    subject_dpop_key: Optional[DpopKey],
    subject_token_proof: Optional[str],
    now: Callable[[], float] = time.time,
) -> Flow:
    """See ``writ.exchange_token``."""
    _check_arguments(subject_token, grants, ttl, subject_dpop_key, subject_token_proof)
    client = _Client(broker, credentials, dpop_key, now)
    url = f"{client.base}/oauth/token"
    params: Dict[str, str] = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "authorization_details": json.dumps([dict(g) for g in grants]),
    }
    if ttl is not None:
        params["ttl"] = str(ttl)

    def body() -> bytes:
        form = dict(params)
        if subject_token_proof is not None:
            form["subject_token_dpop"] = subject_token_proof
        elif subject_dpop_key is not None:
            # RFC 9449 §4.2: a proof of the parent's key for this request, bound to the parent by
            # ath; made again for a retry, with the nonce the broker asked for.
            form["subject_token_dpop"] = create_dpop_proof(
                subject_dpop_key, "POST", url, access_token=subject_token, nonce=client.nonce, now=now()
            )
        return client.form(form)

    # A ready proof was made by someone else: only proofs made here can be made again with a nonce.
    res = yield from client.post(
        "/oauth/token", body, "application/x-www-form-urlencoded", proof_in_body=subject_dpop_key is not None
    )
    answer = _read_json(res)
    if res.status != 200:
        raise _error_from(res, answer)
    token = _result(answer)
    return ExchangeTokenResult(
        access_token=token.access_token,
        token_type=token.token_type,
        expires_in=token.expires_in,
        scope=token.scope,
        grant_id=token.grant_id,
        authorization_details=token.authorization_details,
        parent_grant_id=str(answer.get("parent_grant_id", "")),
    )


__all__ = ["ACCESS_TOKEN_TYPE", "ExchangeTokenResult", "TOKEN_EXCHANGE", "exchange_flow"]
