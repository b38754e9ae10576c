"""Globs of grant identifiers and locations, as the broker's policy writes them (``src/wire/glob.ts``):
``*`` matches a run without ``/``, ``**`` any run; everything else is literal. A dynamic program
over pattern x value: O(n*m), no regular expression built from input."""

from __future__ import annotations

__all__ = ["glob_match"]

_STAR = "*"
_GLOBSTAR = "**"


def _tokens(pattern: str) -> list:
    out: list = []
    i = 0
    while i < len(pattern):
        if pattern[i] != "*":
            out.append(pattern[i])
            i += 1
            continue
        run = 0
        while i < len(pattern) and pattern[i] == "*":
            run += 1
            i += 1
        token = _STAR if run == 1 else _GLOBSTAR
        previous = out[-1] if out else None
        if previous == _GLOBSTAR:
            continue
        if previous == _STAR and token == _GLOBSTAR:
            out[-1] = _GLOBSTAR
        elif not (previous == _STAR and token == _STAR):
            out.append(token)
    return out


def glob_match(pattern: str, value: str) -> bool:
    """Whether a concrete value matches a pattern: ``glob_match('docs/**', 'docs/a/b.md')``."""
    rule = _tokens(pattern)
    m = len(value)
    row = [False] * (m + 1)
    row[0] = True
    for token in rule:
        nxt = [False] * (m + 1)
        if token == _GLOBSTAR:
            nxt[0] = row[0]
            for j in range(1, m + 1):
                nxt[j] = row[j] or nxt[j - 1]
        elif token == _STAR:
            nxt[0] = row[0]
            for j in range(1, m + 1):
                nxt[j] = row[j] or (nxt[j - 1] and value[j - 1] != "/")
        else:
            for j in range(1, m + 1):
                nxt[j] = row[j - 1] and value[j - 1] == token
        row = nxt
        if not any(row):
            return False
    return row[m]
