"""A plain text table for the cost commands: stdlib only, so ``cloudml cost compare`` starts fast.

Columns are sized to their widest cell; numbers are right-aligned; a title above, a caption (how old the
prices are) below. The output is the same on a terminal and in a pipe (nothing is truncated).
"""

from __future__ import annotations

from collections.abc import Sequence


def render(title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    """``columns`` = (header, "left" | "right"); every row has one cell per column."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, (h, _) in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, width, (_, align) in zip(cells, widths, columns, strict=True):
            out.append(cell.rjust(width) if align == "right" else cell.ljust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    parts = [title, line([h for h, _ in columns]), rule, *(line(r) for r in rows)]
    if caption:
        parts.append(caption)
    return "\n".join(parts)
