"""The two-step screening the gateway uses: `begin` gives exactly `screen`'s verdict, either at once (stage 1
settles a short input) or through the call it hands over (stage 2 on the unsure windows, or a long input)."""

import itertools
from pathlib import Path

from redline.evaluation.corpus import read_jsonl
from redline.screening.screener import default_screener
from redline.screening.verdict import Verdict

ROOT = Path(__file__).resolve().parents[2]


def test_both_steps_give_the_screeners_verdicts() -> None:
    screener = default_screener()
    items = read_jsonl(ROOT / "data" / "corpus" / "test.jsonl")[:400]
    settled = handed_over = stage2_only = 0
    for item in items:
        content, tools = item.get("text") or item.get("messages") or "", item.get("tools")
        step = screener.begin(content, tools)
        if isinstance(step, Verdict):
            settled += 1
            assert step == screener.screen(content, tools)
            continue
        handed_over += 1
        if handed_over > 15:  # the encoder is slow: these are enough
            continue
        verdict = step()
        assert verdict == screener.screen(content, tools)
        if sum(map(len, screener.prepare(content, tools))) <= 1200:  # short: stage 1 ran inline, and was unsure
            stage2_only += 1
            assert verdict.stage == "stage2"
    assert 0 < settled < len(items)  # some settle alone, some need the encoder or are too long
    assert stage2_only > 0  # some short ones hand stage 1's work over to stage 2


def test_long_inputs_are_not_settled_inline() -> None:
    screener = default_screener()
    long = " ".join(itertools.repeat("What is the capital of France?", 60))
    step = screener.begin(long, max_chars=1200)
    assert not isinstance(step, Verdict) and step() == screener.screen(long)
    short = [{"role": "user", "content": "What is the capital of France?"}]
    settled = screener.begin(short)
    assert isinstance(settled, Verdict) and settled == screener.screen(short)
