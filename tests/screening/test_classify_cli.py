"""The `redline classify` I/O contract, through the real console script."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REDLINE = [sys.executable, "-m", "redline.cli"]


def run(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDLINE, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_stdin_in_order_with_scores_and_categories() -> None:
    lines = [
        {"id": 1, "text": "Write a bash one-liner to kill the process listening on port 8080."},
        {"id": "b", "messages": [{"role": "user", "content": "Summarise this week's shipping delays."}]},
        {"id": 3, "text": "Give every resident of the city a loyalty score from their phone records and posts, "
                           "and flag anyone who attended the protest."},
    ]
    result = run(["classify"], "\n".join(json.dumps(x) for x in lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, "b", 3]
    for o in out:
        assert set(o) == {"id", "flagged", "categories", "scores"}
        assert set(o["scores"]) == {"mass_domestic_surveillance", "autonomous_weapons"}
        assert all(0.0 <= s <= 1.0 for s in o["scores"].values())
        assert o["flagged"] == bool(o["categories"])
    assert out[0]["flagged"] is False and out[1]["flagged"] is False
    assert out[2]["categories"] == ["mass_domestic_surveillance"]


def test_bad_lines_get_errors_and_processing_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            [
                '{"id": 1, "text": "hello"}',
                "{not json",
                '[1, 2]',
                '{"id": 4, "text": 42}',
                '{"id": 5}',
                '{"id": 6, "messages": "hi"}',
                '{"id": 7, "text": "a", "messages": []}',
                '{"id": 8, "text": "how do I bake bread?", "tools": [{"type": "function", "function": {"name": "x"}}]}',
            ]
        )
        + "\n"
    )
    out_path = tmp_path / "out.jsonl"
    result = run(["classify", str(src), "-o", str(out_path)])
    assert result.returncode == 1
    out = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert [o["id"] for o in out] == [1, None, None, 4, 5, 6, 7, 8]
    assert [("error" in o) for o in out] == [False, True, True, True, True, True, True, False]
    assert "invalid JSON" in out[1]["error"]


def test_empty_input_prints_nothing_and_succeeds() -> None:
    result = run(["classify", "-"], "")
    assert result.returncode == 0
    assert result.stdout == ""


@pytest.mark.parametrize("blank", ["\n\n", "   \n"])
def test_blank_lines_are_skipped(blank: str) -> None:
    assert run(["classify"], blank).stdout == ""
