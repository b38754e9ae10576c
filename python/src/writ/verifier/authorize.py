"""``authorize``: does one of the token's ``authorization_details`` cover this action here?
The same rules as ``writ/verifier``'s ``authorize``."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .errors import VerifierError
from .glob import glob_match

__all__ = ["authorize"]


def _audiences(claims: Mapping[str, Any]) -> List[str]:
    aud = claims.get("aud")
    values = aud if isinstance(aud, list) else [aud]
    return [a for a in values if isinstance(a, str)]


def _here(claims: Mapping[str, Any], audience: Optional[Union[str, Sequence[str]]]) -> Optional[str]:
    token = _audiences(claims)
    if audience is None:
        candidates = token
    else:
        own = [audience] if isinstance(audience, str) else list(audience)
        candidates = [a for a in own if a in token]
    return candidates[0] if len(candidates) == 1 else None


def _covers(detail: Any, type_: str, action: str, location: str, identifier: Optional[str], implicit: bool, sole: bool) -> bool:
    if not isinstance(detail, dict) or detail.get("type") != type_:
        return False
    actions = detail.get("actions")
    if not isinstance(actions, list) or action not in actions:
        return False
    locations = detail.get("locations")
    unplaced = locations is None and implicit and sole
    if not unplaced:
        # Ensure a grant only covers a location it lists.
        if not isinstance(locations, list):
            return False
        if not any(isinstance(p, str) and glob_match(p, location) for p in locations):
            return False
    if "identifier" in detail:
        # Ensure a grant limited to some resources never covers the whole location.
        pattern = detail["identifier"]
        if not isinstance(pattern, str) or identifier is None or not glob_match(pattern, identifier):
            return False
    return True


def authorize(
    claims: Mapping[str, Any],
    type: str,
    action: str,
    location: Optional[str] = None,
    identifier: Optional[str] = None,
    audience: Optional[Union[str, Sequence[str]]] = None,
) -> Dict[str, Any]:
    """The first grant of the token that allows ``action`` of ``type`` on the resource
    (``location``, ``identifier``); raises ``VerifierError('insufficient_scope')`` (403) otherwise.

    Without ``location`` the request is about this service: ``audience`` (the verifier passes its
    own), or the token's ``aud`` when it names one place; never "anywhere". Identifiers with ``.``
    or ``..`` segments are refused, so ``docs/../src`` cannot pass as ``docs/**``.
    """
    scheme = "DPoP" if claims.get("cnf") else "Bearer"
    if identifier is not None and any(seg in (".", "..") for seg in identifier.split("/")):
        raise VerifierError("insufficient_scope", "the resource identifier must not contain . or .. segments", scheme=scheme)
    where = location if location is not None else _here(claims, audience)
    if where is None:
        raise VerifierError(
            "insufficient_scope", "the token names several audiences of this service: give location to authorize", scheme=scheme
        )
    sole = len(_audiences(claims)) == 1
    details = claims.get("authorization_details")
    for detail in details if isinstance(details, list) else []:
        if _covers(detail, type, action, where, identifier, location is None, sole):
            return dict(detail)
    target = " ".join(p for p in (where, identifier) if p is not None)
    raise VerifierError("insufficient_scope", f"the token does not allow {type} {action} on {target}", scheme=scheme)
