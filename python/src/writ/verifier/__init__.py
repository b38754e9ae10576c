"""The service side of writ for Python: ``Verifier`` (the checks of ``writ/verifier``),
``RedisLiveness`` (live revocation), ``authorize``, and ``writ.verifier.starlette`` for FastAPI."""

from .authorize import authorize
from .dpop import DpopNonces, verify_dpop_proof
from .errors import VerifierError
from .glob import glob_match
from .liveness import NoLiveness, RedisLiveness
from .verifier import DEFAULT_ALGORITHMS, DpopOptions, Verifier

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DpopNonces",
    "DpopOptions",
    "NoLiveness",
    "RedisLiveness",
    "Verifier",
    "VerifierError",
    "authorize",
    "glob_match",
    "verify_dpop_proof",
]
