"""Commands of the detection engine: classify, eval, train."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import typer

BATCH = 64


def _parse(line: str) -> tuple[Any, tuple[Any, Any] | None, str | None]:
    """(id, (input, tools) or None, error) for one JSONL line of `redline classify`."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(obj, dict):
        return None, None, "each line must be a JSON object"
    ident = obj.get("id")
    text, messages, tools = obj.get("text"), obj.get("messages"), obj.get("tools")
    if text is not None and messages is not None:
        return ident, None, "give either 'text' or 'messages', not both"
    if text is not None:
        if not isinstance(text, str):
            return ident, None, "'text' must be a string"
        payload: Any = text
    elif messages is not None:
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return ident, None, "'messages' must be a list of message objects"
        payload = messages
    else:
        return ident, None, "missing 'text' or 'messages'"
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        return ident, None, "'tools' must be a list of tool objects"
    return ident, (payload, tools), None


def _batches(lines: IO[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        batch.append(line)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def classify_stream(source: IO[str], sink: IO[str], progress: bool = False) -> int:
    """Classify JSONL from `source` into `sink`, one output line per input line; return the error count."""
    from tqdm import tqdm

    from redline.screening.screener import default_screener

    screener = default_screener()
    errors = 0
    with tqdm(unit="line", disable=not progress, file=sys.stderr) as bar:
        for batch in _batches(source):
            parsed = [_parse(line) for line in batch]
            good = [p[1] for p in parsed if p[1] is not None]
            try:
                verdicts = iter(screener.screen_many(good))
            except Exception:  # one bad item must not lose the batch: retry one by one
                verdicts = iter(_screen_each(screener, good))
            for ident, payload, error in parsed:
                result = next(verdicts) if payload is not None else error
                if result is None or isinstance(result, str):
                    errors += 1
                    sink.write(json.dumps({"id": ident, "error": result}, ensure_ascii=False) + "\n")
                else:
                    out = {"id": ident, **result.to_dict()}
                    out.pop("stage")
                    sink.write(json.dumps(out, ensure_ascii=False) + "\n")
            sink.flush()
            bar.update(len(batch))
    return errors


def _screen_each(screener: Any, items: list[Any]) -> Iterator[Any]:
    for item in items:
        try:
            yield screener.screen(*item)
        except Exception as exc:
            yield f"could not classify: {exc}"


def classify(
    file: str = typer.Argument("-", help="JSONL input; '-' or absent for stdin."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write JSONL here instead of stdout."),
) -> None:
    """Classify JSONL lines ({"id", "text"} or {"id", "messages", "tools"}) into verdict lines."""
    source = sys.stdin if file == "-" else Path(file).open(encoding="utf-8")  # noqa: SIM115
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        errors = classify_stream(source, sink, progress=sys.stderr.isatty())
    finally:
        if source is not sys.stdin:
            source.close()
        if output:
            sink.close()
    raise typer.Exit(1 if errors else 0)


DEFAULT_DATASET = Path("data/corpus/test.jsonl")


def eval_command(
    dataset: Path = typer.Option(None, "--dataset", help="Labelled JSONL; default: the corpus's test split."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Precision, recall, F1, false-positive rates and the confusion matrix on a labelled dataset."""
    from tqdm import tqdm

    from redline.evaluation.corpus import read_jsonl
    from redline.evaluation.metrics import evaluate
    from redline.screening.screener import default_screener
    from redline.screening.verdict import LABELS

    path = dataset or DEFAULT_DATASET
    if not path.exists():
        typer.echo(f"error: dataset {path} not found (run from the repository root or pass --dataset)", err=True)
        raise typer.Exit(2)
    items = read_jsonl(path)
    bad = [n for n, i in enumerate(items, 1) if i.get("label") not in LABELS]
    if bad:
        typer.echo(f"error: {path}: line {bad[0]}: 'label' must be one of {', '.join(LABELS)}", err=True)
        raise typer.Exit(2)
    with tqdm(total=len(items), unit="item", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
        result = evaluate(default_screener(), items, progress=bar.update)
    result["dataset"] = str(path)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"dataset: {path} ({result['items']} items)")
    typer.echo(f"{'category':<28}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for category, m in result["per_category"].items():
        typer.echo(f"{category:<28}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>10}")
    fpr = result["false_positive_rate"]
    typer.echo(
        f"false-positive rate: allowed {fpr['allowed']:.4f} (n={result['allowed_support']}), "
        f"hard negatives {fpr['hard_negatives']:.4f} (n={result['hard_negative_support']})"
    )
    typer.echo("confusion (rows: truth, columns: predicted):")
    typer.echo(" " * 28 + "".join(f"{label[:12]:>14}" for label in LABELS))
    for truth, row in result["confusion"].items():
        typer.echo(f"{truth:<28}" + "".join(f"{row[p]:>14}" for p in LABELS))
    typer.echo(f"stages: {result['stages']}; throughput: {result['throughput_per_s']} items/s")


def train_command(
    data: Path = typer.Option(Path("data"), "--data", help="Folder holding seed/ (input) and corpus/ (output)."),
    out: Path = typer.Option(None, "--out", help="Where the model goes; default: the package's model folder."),
    calibrate_only: bool = typer.Option(
        False, "--calibrate-only", help="Keep the fitted stages in the model folder; redo blend, thresholds, figures."
    ),
) -> None:
    """Rebuild the corpus splits and every shipped model artifact from data/, then print the figures."""
    from redline.screening.screener import MODEL_DIR
    from redline.screening.train import train

    meta = train(data, out or MODEL_DIR, log=lambda msg: typer.echo(msg, err=True), calibrate_only=calibrate_only)
    typer.echo(json.dumps({"thresholds": meta["thresholds"], "metrics": meta["metrics"]}, indent=2))


def register(app: typer.Typer) -> None:
    """Add the detection engine's commands to the root `redline` app."""
    app.command("classify")(classify)
    app.command("eval")(eval_command)
    app.command("train")(train_command)
