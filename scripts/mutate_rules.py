"""`make mutate` second pass: the rules mutmut never touches.

mutmut mutates function bodies only, and never drops an element from a collection. So rules kept at module or
class level (limits, allowed fields, retried statuses, the direct edge's named refusals, the execution-ARN
pattern, the request time budget, the retry policy's defaults) and collections returned whole by a function
(``errors.refusals()``) sit outside it. This pass mutates exactly those, one at a time, in a staged copy of the
sources, and runs the unit, infrastructure and client tests against each mutant (stopping at the first
failure; test files that name the module or the rule go first). No library does this: mutmut, cosmic-ray and
mutatest have no operator that drops a collection's element.

    python -m scripts.mutate_rules [NAME_PATTERN ...]   e.g. 'scheduler_service.errors.*'

A mutant is named ``<package>.<module>.<rule><operator>`` (``scheduler_service.rules.MAX_BODY_BYTES+1``,
``scheduler_service.errors.refusals-IdempotencyKeyReused``).
Equivalent ones are listed with their reason under ``[rules]`` in mutation-equivalents.toml.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / ".mutate-rules"
PACKAGES = [
    ROOT / "functions" / "scheduler" / "scheduler_service",
    ROOT / "client" / "src" / "scheduler_client",
    ROOT / "client" / "src" / "scheduler_contract",
]
SOURCES = [path for package in PACKAGES for path in sorted(package.glob("*.py"))]
TEST_DIRS = ["tests/contract", "tests/unit", "tests/infrastructure", "tests/client"]
EQUIVALENTS = ROOT / "mutation-equivalents.toml"
SLOW_SECONDS = 900


@dataclass(frozen=True)
class Mutant:
    name: str
    path: Path  # the source file, relative to ROOT
    start: tuple[int, int]  # (line, column) of the replaced text, 1-based line
    end: tuple[int, int]
    replacement: str
    rule: str


def _segment(node: ast.expr) -> tuple[tuple[int, int], tuple[int, int]]:
    return (node.lineno, node.col_offset), (node.end_lineno or node.lineno, node.end_col_offset or 0)


Mutation = tuple[str, ast.expr, str]  # (operator, node to replace, replacement text)


def _value_mutants(node: ast.expr, source: str) -> Iterator[Mutation]:
    """The mutants of one rule's value."""
    if isinstance(node, ast.Constant):
        yield from _constant_mutants(node)
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        yield from _collection_mutants(node, source)
    elif isinstance(node, ast.Dict):
        yield from _dict_mutants(node, source)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
        called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        if called in ("frozenset", "set", "tuple", "compile") and node.args:
            yield from _value_mutants(node.args[0], source)
        elif called not in ("get", "Callable"):
            for keyword in node.keywords:  # a policy's defaults: RetryPolicy(max_attempts=1)
                for operator, inner, replacement in _value_mutants(keyword.value, source):
                    yield f"({keyword.arg}){operator}", inner, replacement


def _constant_mutants(node: ast.Constant) -> Iterator[Mutation]:
    if isinstance(node.value, bool):
        yield "not", node, repr(not node.value)
    elif isinstance(node.value, int | float):
        yield "+1", node, repr(node.value + 1)
        yield "-1", node, repr(node.value - 1)
    elif isinstance(node.value, str) and node.value:
        yield "XX", node, repr(f"XX{node.value}XX")


def _collection_mutants(node: ast.Tuple | ast.List | ast.Set, source: str) -> Iterator[Mutation]:
    """Each element dropped in turn (mutmut has no such operator)."""
    brackets = {ast.Tuple: ("(", ")"), ast.List: ("[", "]"), ast.Set: ("{", "}")}
    opening, closing = brackets[type(node)]
    for element in node.elts:
        rest = [ast.get_source_segment(source, other) or "" for other in node.elts if other is not element]
        text = ", ".join(rest) + ("," if isinstance(node, ast.Tuple) and len(rest) == 1 else "")
        label = _label(ast.get_source_segment(source, element) or "")
        if isinstance(node, ast.Set) and not rest:
            yield f"-{label}", node, "set()"
        else:
            yield f"-{label}", node, f"{opening}{text}{closing}"


def _dict_mutants(node: ast.Dict, source: str) -> Iterator[Mutation]:
    """Each key dropped in turn, and each constant value mutated."""
    pairs = [(key, value) for key, value in zip(node.keys, node.values, strict=True) if key is not None]
    for key, value in pairs:
        label = _label(ast.get_source_segment(source, key) or "")
        rest = [
            f"{ast.get_source_segment(source, k)}: {ast.get_source_segment(source, v)}"
            for k, v in pairs
            if k is not key
        ]
        yield f"-{label}", node, "{" + ", ".join(rest) + "}"
        for operator, inner, replacement in _value_mutants(value, source):
            if isinstance(inner, ast.Constant):
                yield f"[{label}]{operator}", inner, replacement


def _label(text: str) -> str:
    return "".join(char if char.isalnum() or char in "_-." else "_" for char in text.strip("'\""))[:40]


def mutants_of(path: Path) -> Iterator[Mutant]:
    source = path.read_text()
    tree = ast.parse(source)
    module = f"{path.parent.name}.{path.stem}"

    def rules_in(body: list[ast.stmt], owner: str = "") -> Iterator[tuple[str, ast.expr]]:
        for statement in body:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
                if isinstance(target, ast.Name):
                    yield owner + target.id, statement.value
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                if isinstance(statement.target, ast.Name):
                    yield owner + statement.target.id, statement.value
            elif isinstance(statement, ast.ClassDef):
                yield from rules_in(statement.body, f"{statement.name}.")
            elif isinstance(statement, ast.FunctionDef) and owner == "":
                # A rule returned whole by a function: mutmut changes its elements but never drops one.
                for inner in statement.body:
                    if isinstance(inner, ast.Return) and isinstance(inner.value, ast.Tuple | ast.Set | ast.List):
                        yield statement.name, inner.value

    for rule, value in rules_in(tree.body):
        if rule.startswith("__"):  # __all__ and the like: what a star import exports, no behaviour
            continue
        for operator, node, replacement in _value_mutants(value, source):
            start, end = _segment(node)
            yield Mutant(f"{module}.{rule}{operator}", path.relative_to(ROOT), start, end, replacement, rule)


def apply(mutant: Mutant, source: str) -> str:
    lines = source.splitlines(keepends=True)
    (first, first_col), (last, last_col) = mutant.start, mutant.end
    before = "".join(lines[: first - 1]) + lines[first - 1][:first_col]
    after = lines[last - 1][last_col:] + "".join(lines[last:])
    return before + mutant.replacement + after


def stage(copy: Path) -> None:
    shutil.rmtree(copy, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("functions", "client", "tests", "local_stack", "scripts", "statemachines", "events", "docs"):
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    for name in ("template.yaml", "openapi.yaml", "samconfig.toml", "pyproject.toml", "mutation-equivalents.toml"):
        shutil.copy2(ROOT / name, copy / name)


def test_order(mutant: Mutant, copy: Path) -> list[str]:
    """Every test file of the tiers, those naming the module or the rule first: a kill comes sooner."""
    files = sorted(path for directory in TEST_DIRS for path in (copy / directory).glob("test_*.py"))
    slow = set(tomllib.loads(EQUIVALENTS.read_text())["skip"]["slow_tests"])
    files = [path for path in files if str(path.relative_to(copy)) not in slow]
    words = (mutant.rule.split(".")[-1], mutant.path.stem)
    first = [path for path in files if any(word in path.read_text() for word in words)]
    return [str(path.relative_to(copy)) for path in first + [path for path in files if path not in first]]


def run(mutant: Mutant, worker: int) -> tuple[Mutant, str]:
    copy = STAGE / f"worker-{worker}"
    original = (ROOT / mutant.path).read_text()
    target = copy / mutant.path
    target.write_text(apply(mutant, original))
    try:
        ast.parse(target.read_text())
    except SyntaxError:
        return mutant, "not valid Python"
    try:
        result = subprocess.run(  # noqa: S603 - our own interpreter and tests
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                "--no-header",
                *test_order(mutant, copy),
            ],
            cwd=copy,
            # The staged copy's packages, not the installed (editable) ones of the working tree.
            env={**os.environ, "PYTHONPATH": f"{copy / 'functions' / 'scheduler'}:{copy / 'client' / 'src'}"},
            capture_output=True,
            text=True,
            timeout=SLOW_SECONDS,
            check=False,
        )
        verdict = {0: "survived", 1: "killed"}.get(result.returncode, f"error (exit {result.returncode})")
    except subprocess.TimeoutExpired:
        verdict = "timeout"
    finally:
        target.write_text(original)
    return mutant, verdict


def main(patterns: list[str]) -> int:
    equivalent: dict[str, str] = tomllib.loads(EQUIVALENTS.read_text()).get("rules", {})
    mutants = [mutant for path in SOURCES for mutant in mutants_of(path)]
    if patterns:
        mutants = [m for m in mutants if any(fnmatch.fnmatchcase(m.name, pattern) for pattern in patterns)]
    workers = 2
    for worker in range(workers):
        stage(STAGE / f"worker-{worker}")
    print(f"{len(mutants)} rule mutants over {len(SOURCES)} modules, {workers} at a time", flush=True)
    verdicts: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Each worker has its own staged copy: mutant n goes to copy n % workers, never two at once in one copy.
        lanes = [mutants[index::workers] for index in range(workers)]

        def lane(worker: int) -> list[tuple[Mutant, str]]:
            done = []
            for mutant in lanes[worker]:
                done.append(run(mutant, worker))
                print(f"  {done[-1][1]:<10} {mutant.name}", flush=True)
            return done

        for results in pool.map(lane, range(workers)):
            verdicts.update({mutant.name: verdict for mutant, verdict in results})
    survivors = [name for name, verdict in sorted(verdicts.items()) if verdict != "killed" and name not in equivalent]
    killed = sum(verdict == "killed" for verdict in verdicts.values())
    listed = sum(name in equivalent for name in verdicts)
    print(f"\nRule mutants: {len(verdicts)}, killed {killed}, equivalent {listed}, not killed {len(survivors)}")
    for name in survivors:
        print(f"  {verdicts[name]:<10} {name}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
