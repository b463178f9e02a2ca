"""Conclusions a notebook states, checked on screen against what the notebook just computed.

Each course notebook ends with conclusions measured in the full setting. The reduced setting
(``QUICK``: a few hundred pairs, a few training steps) is for trying things out and for CI;
its numbers are noisier and can contradict a conclusion. :func:`check_claim` puts that on
screen, right under the result it is about: a short green line when this run agrees, an
orange box that names the full-run figure (and the command that produced it) when it does
not, so a student never reads a contradiction without being told.

The rendered copy of the course (``docs/course/``) is written by :mod:`workbench.course`.

>>> from workbench.notebook import check_claim
>>> check_claim(
...     "fitting on the test sentences (a leak) scores higher than fitting on STS-B train",
...     leak > honest,
...     observed={"leak": leak, "honest": honest},
...     full_run="STS-B 84.4 vs 83.9 (notebook 03 with QUICK = False)",
... )  # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

from .errors import InvalidInputError

__all__ = ["ClaimCheck", "check_claim", "quick_mode"]

BOX = (
    "margin:6px 0;padding:8px 12px;border-radius:3px;font-size:13px;line-height:1.45;"
    "font-family:var(--jp-ui-font-family, -apple-system, 'Segoe UI', sans-serif);"
)
STYLES = {
    "agrees": "background:#edf7ed;color:#1e4620;border-left:4px solid #009E73;",
    "disagrees": "background:#fff4e5;color:#663c00;border-left:4px solid #E69F00;",
    "unchecked": "background:#eef4fb;color:#0b3c6b;border-left:4px solid #0072B2;",
}


def quick_mode() -> bool:
    """True when ``WORKBENCH_QUICK=1`` (what the notebooks' parameter cells read)."""
    return os.environ.get("WORKBENCH_QUICK", "0") == "1"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Real):
        return f"{float(value):.2f}" if math.isfinite(float(value)) else "n/a"
    return str(value)


def _observed_text(observed: Mapping[str, Any] | str | None) -> str:
    if observed is None:
        return ""
    if isinstance(observed, str):
        return observed
    if not isinstance(observed, Mapping):
        raise InvalidInputError(
            f"observed must be a mapping of label to value or a string, not "
            f"{type(observed).__name__}"
        )
    return ", ".join(f"{k} {_fmt(v)}" for k, v in observed.items())


def _has_nan(observed: Mapping[str, Any] | str | None) -> bool:
    if not isinstance(observed, Mapping):
        return False
    return any(
        isinstance(v, Real) and not isinstance(v, bool) and not math.isfinite(float(v))
        for v in observed.values()
    )


def _inline_code(text: str) -> str:
    """Escape ``text`` for HTML, with `backticked` spans as <code>."""
    parts = re.split(r"`([^`]+)`", text)
    return "".join(
        f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts)
    )


@dataclass(frozen=True)
class ClaimCheck:
    """The outcome of :func:`check_claim`; shows itself as a coloured box in a notebook."""

    claim: str
    holds: bool | None  # None: the observed values had a NaN, nothing could be checked
    full_run: str
    observed: str
    quick: bool

    @property
    def status(self) -> str:
        """``agrees``, ``disagrees`` or ``unchecked``."""
        if self.holds is None:
            return "unchecked"
        return "agrees" if self.holds else "disagrees"

    def _parts(self) -> tuple[str, str]:
        """(headline, details) in plain text with `code` spans."""
        setting = "quick run" if self.quick else "full run"
        here = f" Here: {self.observed}." if self.observed else ""
        if self.status == "agrees":
            return (f"This {setting} agrees: {self.claim}.", here.strip())
        if self.status == "unchecked":
            return (
                f"Not checked in this {setting} (a value is missing): {self.claim}.",
                f"{here} Full run: {self.full_run}.".strip(),
            )
        if self.quick:
            return (
                f"This quick run disagrees with the conclusion: {self.claim}.",
                f"{here} The full run gives {self.full_run}. The quick setting scores small "
                "subsets, so differences of this size are within its noise; set "
                "`QUICK = False` to measure the full setting.".strip(),
            )
        return (
            f"This full run disagrees with the conclusion the notebook states: {self.claim}.",
            f"{here} The stated figures are {self.full_run}. Data, protocol or library "
            "versions differ from the ones they were measured with: compare "
            "`wb.library_versions()` and the `protocol` column.".strip(),
        )

    def __str__(self) -> str:
        mark = {"agrees": "ok", "disagrees": "WARNING", "unchecked": "note"}[self.status]
        head, details = self._parts()
        text = f"[{mark}] {head}" + (f" {details}" if details else "")
        return text.replace("`", "")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head, details = self._parts()
        icon = {"agrees": "&#10003;", "disagrees": "&#9888;", "unchecked": "&#8505;"}[self.status]
        body = f"<b>{icon} {_inline_code(head)}</b>"
        if details:
            body += f"<br>{_inline_code(details)}"
        style = BOX + STYLES[self.status]
        return f'<div class="wb-claim wb-claim-{self.status}" style="{style}">{body}</div>'


def check_claim(
    claim: str,
    holds: Any,
    *,
    full_run: str,
    observed: Mapping[str, Any] | str | None = None,
    quick: bool | None = None,
) -> ClaimCheck:
    """Check one stated conclusion against this run and return a box that says so.

    ``claim``: the conclusion as the notebook states it. ``holds``: whether this run's numbers
    agree (a bool computed in the cell, e.g. ``leak > honest``). ``full_run``: the full-setting
    figure and the command or protocol that produced it, shown when this run disagrees.
    ``observed``: this run's values (``{"leak": 83.1, "honest": 84.0}``) or a sentence; a NaN
    among them means nothing could be checked. ``quick``: the setting of this run (default:
    ``WORKBENCH_QUICK``). The box is the cell's output, so it is in every executed copy
    (HTML pages of ``workbench report`` included).
    """
    if not isinstance(claim, str) or not claim.strip():
        raise InvalidInputError("claim must be a non-empty sentence stating the conclusion")
    if not isinstance(full_run, str) or not full_run.strip():
        raise InvalidInputError(
            "full_run must name the full-setting figure and the command that produced it"
        )
    import numpy as np

    if not isinstance(holds, bool | np.bool_):  # an array or Series would be ambiguous
        raise InvalidInputError(
            f"holds must be one True/False, not {type(holds).__name__}; compare two numbers "
            "or reduce with .all() / .any()"
        )
    verdict = bool(holds)
    text = _observed_text(observed)
    result = ClaimCheck(
        claim=claim.strip().rstrip("."),
        holds=None if _has_nan(observed) else verdict,
        full_run=full_run.strip().rstrip("."),
        observed=text.strip().rstrip("."),
        quick=quick_mode() if quick is None else bool(quick),
    )
    return result
