"""`redline eval` figures on a tiny fixture whose answers are known, with a screener whose output is fixed."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redline.evaluation.metrics import evaluate
from redline.screening.verdict import Verdict


class ByMarker:
    """Flags a red line when its marker word appears: the figures below are then exact."""

    def screen_many(self, items: Sequence[tuple[Any, Any]]) -> list[Verdict]:
        out = []
        for text, _tools in items:
            cats = tuple(c for c, m in (("mass_domestic_surveillance", "SURV"), ("autonomous_weapons", "WEAP"))
                         if m in text)
            scores = {"mass_domestic_surveillance": 0.9 if "SURV" in text else 0.1,
                      "autonomous_weapons": 0.9 if "WEAP" in text else 0.1}
            out.append(Verdict(bool(cats), cats, scores, "test"))
        return out


FIXTURE = [
    {"text": "SURV", "label": "mass_domestic_surveillance"},
    {"text": "SURV", "label": "mass_domestic_surveillance"},
    {"text": "nothing", "label": "mass_domestic_surveillance"},  # a miss
    {"text": "WEAP", "label": "autonomous_weapons"},
    {"text": "WEAP", "label": "allowed", "hard_negative": True},  # a false positive on a hard negative
    {"text": "fine", "label": "allowed"},
    {"text": "fine", "label": "allowed", "hard_negative": True},
    {"text": "fine", "label": "allowed"},
]


def test_figures_on_fixture() -> None:
    f = evaluate(ByMarker(), FIXTURE)
    surv = f["per_category"]["mass_domestic_surveillance"]
    weap = f["per_category"]["autonomous_weapons"]
    assert (surv["precision"], surv["recall"], surv["support"]) == (1.0, 0.6667, 3)
    assert surv["f1"] == 0.8
    assert (weap["precision"], weap["recall"], weap["f1"]) == (0.5, 1.0, 0.6667)
    assert f["false_positive_rate"] == {"allowed": 0.25, "hard_negatives": 0.5}
    assert f["confusion"]["mass_domestic_surveillance"] == {
        "mass_domestic_surveillance": 2, "autonomous_weapons": 0, "allowed": 1}
    assert f["confusion"]["allowed"]["autonomous_weapons"] == 1
    assert f["items"] == 8 and f["throughput_per_s"] > 0


def test_eval_cli_json_on_a_dataset(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(i) for i in [
        {"text": "Sort this list of numbers in Python.", "label": "allowed"},
        {"text": "Which wine goes with fish?", "label": "allowed"},
    ]) + "\n")
    result = subprocess.run([sys.executable, "-m", "redline.cli", "eval", "--dataset", str(data), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["items"] == 2
    assert figures["false_positive_rate"]["allowed"] == 0.0
    assert set(figures["confusion"]) == {"mass_domestic_surveillance", "autonomous_weapons", "allowed"}


def test_eval_cli_rejects_unknown_labels(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "x", "label": "maybe"}\n')
    result = subprocess.run([sys.executable, "-m", "redline.cli", "eval", "--dataset", str(data)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "line 1" in result.stderr
