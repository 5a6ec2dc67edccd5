"""The line reference a bank gets with a batch and books back on its statements: ``JZ-{disbursement_id}-{line_id}``
(the end-to-end id of ISO 20022 pain.001 / camt.053)."""

from __future__ import annotations

import re

from shared.http_types import JSON_INT_MAX

REFERENCE_PATTERN = r"^JZ-([1-9][0-9]{0,15})-([1-9][0-9]{0,15})$"
_REFERENCE = re.compile(REFERENCE_PATTERN, re.ASCII)


def end_to_end_id(disbursement_id: int, line_id: int) -> str:
    """The one formatter of a line's reference: batches, the bank's lines, events and 对账 all use it."""
    return f"JZ-{disbursement_id}-{line_id}"


def parse_end_to_end_id(value: str) -> tuple[int, int]:
    """(disbursement id, line id) of a reference, or ValueError saying what a reference looks like."""
    m = _REFERENCE.fullmatch(value)
    if m is None or int(m[1]) > JSON_INT_MAX or int(m[2]) > JSON_INT_MAX:
        raise ValueError("end_to_end_id must be the line reference sent with the batch, "
                         "\"JZ-<disbursement id>-<line id>\", such as \"JZ-12-3456\"")
    return int(m[1]), int(m[2])
