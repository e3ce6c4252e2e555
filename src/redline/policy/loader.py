"""Policy files: YAML documents with a `kind:`, validated so that every error names file, line and field.

The YAML is composed to nodes first; their marks map a pydantic error location (or a guard clause path) back
to the line it came from, which plain `yaml.safe_load` would lose.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from redline.policy import guard
from redline.policy.model import DOCUMENT_KINDS, OperatorPolicy, PolicyDocument, TenantContract

Path_ = tuple[str | int, ...]
D = TypeVar("D", bound=PolicyDocument)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field or '<document>'}: {self.message}"


class PolicyError(ValueError):
    """A policy file that cannot be used; each problem names file, line and field."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class WeakeningError(PolicyError):
    """A document that tries to weaken a red line: the clauses, located, and the raw document's tenant."""

    def __init__(
        self, problems: Sequence[Problem], weakenings: list[guard.Weakening], tenant: str | None
    ) -> None:
        super().__init__(problems)
        self.weakenings = weakenings
        self.tenant = tenant


@dataclass(frozen=True)
class Loaded:
    """One validated document and where its parts came from."""

    kind: str
    model: PolicyDocument
    file: str
    lines: dict[Path_, int] = field(repr=False)

    def source(self, *path: str | int) -> str:
        """`file:line` of the deepest part of `path` present in the file."""
        return f"{self.file}:{_line(self.lines, path)}"


def _node_lines(node: yaml.Node, path: Path_ = ()) -> Iterator[tuple[Path_, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            yield sub, key.start_mark.line + 1
            yield from ((p, n) for p, n in _node_lines(value, sub) if p != sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _node_lines(item, (*path, i))


def _line(lines: dict[Path_, int], path: Sequence[str | int]) -> int:
    for end in range(len(path), -1, -1):
        prefix = tuple(path[:end])
        if prefix in lines:
            return lines[prefix]
    return 1


def _compose(text: str) -> Iterator[tuple[Any, dict[Path_, int]]]:
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            yield loader.construct_document(node), dict(_node_lines(node))
    finally:
        loader.dispose()


def _documents(text: str, file: str) -> Iterator[tuple[Any, dict[Path_, int]]]:
    """Each document of `text` as data, with the line of every path in it."""
    try:
        yield from _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or exc
        raise PolicyError([Problem(file, line, "", f"invalid YAML: {problem}")]) from exc


def _validate(data: Any, lines: dict[Path_, int], file: str, operator: OperatorPolicy | None) -> Loaded:
    if not isinstance(data, dict):
        raise PolicyError([Problem(file, 1, "", "a policy document must be a mapping")])
    kind = data.get("kind")
    if kind not in DOCUMENT_KINDS:
        known = ", ".join(DOCUMENT_KINDS)
        raise PolicyError([Problem(file, _line(lines, ("kind",)), "kind", f"must be one of: {known}")])
    body = {k: v for k, v in data.items() if k != "kind"}
    if kind == "contract":
        weakenings = guard.check_contract(body, operator or bundled_operator_policy())
        if weakenings:
            problems = [Problem(file, _line(lines, w.path), w.clause, w.reason) for w in weakenings]
            tenant = body.get("tenant")
            raise WeakeningError(problems, weakenings, tenant if isinstance(tenant, str) else None)
    try:
        model = DOCUMENT_KINDS[kind].model_validate(body)
    except ValidationError as exc:
        raise PolicyError(
            [
                Problem(file, _line(lines, err["loc"]), ".".join(str(p) for p in err["loc"]), err["msg"])
                for err in exc.errors()
            ]
        ) from exc
    return Loaded(kind, model, file, lines)


def parse(text: str, file: str = "<string>", operator: OperatorPolicy | None = None) -> list[Loaded]:
    """Every document in `text`. Contracts are checked against `operator` (default: the bundled policy)."""
    return [_validate(data, lines, file, operator) for data, lines in _documents(text, file)]


def load(path: str | Path, operator: OperatorPolicy | None = None) -> list[Loaded]:
    """Every document in the file at `path` (YAML, several documents separated by `---`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([Problem(str(path), 1, "", exc.strerror or str(exc))]) from exc
    return parse(text, str(path), operator)


def policy_files(directory: str | Path | None) -> list[Path]:
    """Every `*.yaml` / `*.yml` file under `directory`, in name order; none when it is None."""
    return [] if directory is None else sorted(Path(directory).glob("**/*.y*ml"))


def load_dir(directory: str | Path | None, operator: OperatorPolicy | None = None) -> list[Loaded]:
    """Every document of every policy file under `directory` (see `policy_files`)."""
    return [doc for path in policy_files(directory) for doc in load(path, operator)]


def only(docs: Sequence[Loaded], model: type[D]) -> list[D]:
    """The models of one type among `docs`."""
    return [d.model for d in docs if isinstance(d.model, model)]


def load_operator_policy(path: str | Path | None = None) -> Loaded:
    """The operator policy at `path`, or the one bundled with redline."""
    if path is None:
        resource = files("redline.policy").joinpath("operator.yaml")
        docs = parse(resource.read_text(encoding="utf-8"), "redline/policy/operator.yaml")
    else:
        docs = load(path)
    policies = [d for d in docs if isinstance(d.model, OperatorPolicy)]
    if len(policies) != 1:
        raise PolicyError([Problem(str(path), 1, "kind", "expected exactly one operator_policy document")])
    return policies[0]


def operator_policy(path: str | Path | None = None) -> OperatorPolicy:
    """The operator policy model at `path`, or the bundled one."""
    if path is None:
        return bundled_operator_policy()
    model = load_operator_policy(path).model
    assert isinstance(model, OperatorPolicy)  # load_operator_policy only returns one
    return model


@cache
def bundled_operator_policy() -> OperatorPolicy:
    """The bundled operator policy, parsed once."""
    model = load_operator_policy().model
    assert isinstance(model, OperatorPolicy)
    return model


def contract_for(docs: Sequence[Loaded], tenant: str) -> Loaded | None:
    """The loaded contract of `tenant` among `docs`."""
    return next((d for d in docs if isinstance(d.model, TenantContract) and d.model.tenant == tenant), None)
