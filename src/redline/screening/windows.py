"""Split long inputs into overlapping windows so one violating sentence among many is not diluted.

Linear time: each word is visited a bounded number of times (window / stride). Short inputs are one window.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Scripts written without spaces (Chinese, Japanese) count each character as a token.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def windows(text: str, size: int = 100, stride: int = 75) -> Iterator[str]:
    """Yield windows of about `size` tokens, each starting `stride` tokens after the last."""
    if stride <= 0 or size < stride:
        raise ValueError("need 0 < stride <= size")
    spans = [m.span() for m in _TOKEN.finditer(text)]
    n = len(spans)
    if n <= size + stride // 2:
        yield text
        return
    for start in range(0, n, stride):
        end = min(start + size, n)
        yield text[spans[start][0] : spans[end - 1][1]]
        if end == n:
            return
