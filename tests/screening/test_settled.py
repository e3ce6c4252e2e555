"""The inline path: `screen_settled` gives exactly `screen`'s verdict, or None (too long, or uncertain)."""

import itertools
from pathlib import Path

from redline.evaluation.corpus import read_jsonl
from redline.screening.screener import default_screener

ROOT = Path(__file__).resolve().parents[2]


def test_settled_verdicts_are_the_screeners() -> None:
    screener = default_screener()
    items = read_jsonl(ROOT / "data" / "corpus" / "test.jsonl")[:400]
    settled = 0
    for item in items:
        content = item.get("text") or item.get("messages") or ""
        quick = screener.screen_settled(content, item.get("tools"))
        if quick is not None:
            settled += 1
            assert quick == screener.screen(content, item.get("tools"))
    assert 0 < settled < len(items)  # some settle alone, some need the encoder or are too long


def test_long_inputs_are_not_settled_inline() -> None:
    screener = default_screener()
    long = " ".join(itertools.repeat("What is the capital of France?", 60))
    assert screener.screen_settled(long, max_chars=1200) is None
    short = [{"role": "user", "content": "What is the capital of France?"}]
    assert screener.screen_settled(short) == screener.screen(short)
