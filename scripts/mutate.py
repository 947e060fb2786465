"""`make mutate`: mutation testing of the function and the client package (mutmut), a summary per file.

mutmut names each mutant after its module's path, and strips only a leading ``src/``. So the run happens in a
staging copy, ``.mutate/``, where the packages (``scheduler_service``, ``scheduler_client``,
``scheduler_contract``) sit in ``src/`` next to the tests and the files the tests read.
mutmut then runs, for each mutant, only the tests that call the mutated function (it records which ones do).

Mutants known to change no behaviour are listed with their reason in ``mutation-equivalents.toml``; the summary
counts them apart, so a run shows only what matters: the survivors each want a test (or a reason there).

    python -m scripts.mutate                                # everything
    python -m scripts.mutate 'scheduler_service.store.*'    # one module (mutmut's name patterns)
    python -m scripts.mutate --report                       # the last run's summary again
    python -m scripts.mutate --recheck                      # the last run's survivors against [recheck]'s tests

mutmut picks each mutant's tests from the calls it recorded while the suite ran in its own process. A call made
in a forked child (the watcher's fork tests) is never recorded, so those tests never meet the mutant. The modules
``[recheck]`` names in mutation-equivalents.toml have their survivors run once more against the tests it names,
with mutmut's own switch (MUTANT_UNDER_TEST); a failing test kills the mutant, in mutmut's metadata too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404
import sys
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / ".mutate"
PACKAGES = [
    ROOT / "functions" / "scheduler" / "scheduler_service",
    ROOT / "client" / "src" / "scheduler_client",
    ROOT / "client" / "src" / "scheduler_contract",
]
EQUIVALENTS = ROOT / "mutation-equivalents.toml"
COPIED = [
    "tests",
    "docs/protocol",
    "docs/protocol.md",
    "docs/agent",
    "local_stack",
    "scripts",
    "template.yaml",
    "statemachines",
    "events",
    "openapi.yaml",
    "samconfig.toml",
]
# mutmut's exit codes of the test run under a mutant: 1 is a failing test, the mutant is killed. 33 is "no tests":
# no test reaches the mutated function, so nothing would notice the change: a survivor, and counted as one.
KILLED, SURVIVED = (1, 3), (0, 5, 33)

PYPROJECT = """
[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = [
    "tests/contract", "tests/unit", "tests/infrastructure", "tests/client", "tests/integration/test_push_connection.py"
]
addopts = "-q -p no:cacheprovider"
timeout = 120
markers = ["integration: not run here"]

[tool.mutmut]
source_paths = ["src/"]
# Each mutant's child forks from a server process that never ran a test: with "fork", children inherit mutmut's
# main process after it ran the whole suite in-process (its threads, sockets and patched modules).
process_isolation = "forkserver"
also_copy = [
    "local_stack/", "scripts/", "docs/protocol/", "docs/protocol.md", "docs/agent/", "template.yaml", "statemachines/",
    "events/",
    "openapi.yaml", "samconfig.toml"
]
pytest_add_cli_args_test_selection = [
    "tests/contract/", "tests/unit/", "tests/infrastructure/", "tests/client/",
    "tests/integration/test_push_connection.py"
]
pytest_add_cli_args = {ignored}
do_not_mutate_patterns = {patterns}
"""


def judged() -> dict[str, object]:
    """mutation-equivalents.toml: what is not mutated, which tests are left out, and the equivalent mutants."""
    return tomllib.loads(EQUIVALENTS.read_text())


def stage() -> None:
    """A fresh copy of the working tree's function and tests, laid out for mutmut."""
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "src").mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(package, STAGE / "src" / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, STAGE / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, STAGE / name)
    skip: dict[str, list[str]] = judged()["skip"]  # type: ignore[assignment]
    ignored = [f"--ignore={path}" for path in skip["slow_tests"]]
    (STAGE / "pyproject.toml").write_text(
        PYPROJECT.format(ignored=json.dumps(ignored), patterns=json.dumps(skip["patterns"]))
    )


def run(patterns: list[str]) -> int:
    mutmut = Path(sys.executable).parent / "mutmut"
    # Fixed arguments; the patterns only select mutants by name.
    return subprocess.run(  # noqa: S603  # nosec B603
        [str(mutmut), "run", "--max-children", "2", *patterns], cwd=STAGE, check=False
    ).returncode


def recheck() -> None:
    """Run the survivors of the modules [recheck] names against its tests; record the ones they kill."""
    rechecks: dict[str, dict[str, list[str]]] = judged().get("recheck", {})  # type: ignore[assignment]
    for meta in sorted((STAGE / "mutants" / "src").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        codes: dict[str, int | None] = data.get("exit_code_by_key", {})
        due = [name for name, code in codes.items() if code in SURVIVED and name.rsplit(".", 1)[0] in rechecks]
        with ThreadPoolExecutor(max_workers=2) as pool:
            verdicts = pool.map(lambda name: (name, _killed_by(name, rechecks[name.rsplit(".", 1)[0]]["tests"])), due)
            killed = [name for name, dead in verdicts if dead]
        for name in killed:
            codes[name] = 1
        if killed:
            meta.write_text(json.dumps(data))
            print(f"{meta.name}: {len(killed)} of {len(due)} survivors killed by the tests [recheck] names")


def _killed_by(name: str, tests: list[str]) -> bool:
    environment = {**os.environ, "MUTANT_UNDER_TEST": name, "PYTHONPATH": "src"}
    # Fixed arguments: the test paths come from our own mutation-equivalents.toml.
    answer = subprocess.run(  # noqa: S603  # nosec B603
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=STAGE / "mutants",
        env=environment,
        capture_output=True,
        check=False,
        timeout=600,
    )
    return answer.returncode == 1  # a failing test; 2-5 are pytest's own errors, which kill nothing


def results() -> dict[str, int | None]:
    """{mutant name: exit code of its test run}, from mutmut's metadata files."""
    outcomes: dict[str, int | None] = {}
    for meta in (STAGE / "mutants" / "src").rglob("*.py.meta"):
        outcomes.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return outcomes


def summary(outcomes: dict[str, int | None]) -> tuple[str, list[str]]:
    """A table per file (killed, survived, equivalent, other) and the survivors that are not equivalent.
    Mutants that only the integration tests can kill (listed under [integration]) count as killed elsewhere."""
    equivalent: dict[str, str] = judged().get("equivalent", {})  # type: ignore[assignment]
    integration: dict[str, str] = judged().get("integration", {})  # type: ignore[assignment]
    counts: dict[str, Counter[str]] = {}
    survivors = []
    for name, code in sorted(outcomes.items()):
        module = name.rsplit(".", 1)[0]  # scheduler_client.watcher.xǁPauseWatcherǁpoll__mutmut_3
        if code is None:
            verdict = "not run"
        elif code in KILLED:
            verdict = "killed"
        elif name in equivalent:
            verdict = "equivalent"
        elif name in integration:
            verdict = "integration"
        elif code in SURVIVED:
            verdict = "survived"
            survivors.append(name)
        else:
            verdict = "timeout or error"
        counts.setdefault(module, Counter())[verdict] += 1
    lines = [
        "| file | mutants | killed | survived | equivalent | integration | other | score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for module, count in sorted(counts.items()):
        total = sum(count.values())
        decided = count["killed"] + count["survived"]
        score = f"{count['killed'] / decided:.0%}" if decided else "-"
        other = total - decided - count["equivalent"] - count["integration"]
        lines.append(
            f"| {module.replace('.', '/')}.py | {total} | {count['killed']} | {count['survived']} "
            f"| {count['equivalent']} | {count['integration']} | {other} | {score} |"
        )
    return "\n".join(lines), survivors


def main(argv: list[str]) -> int:
    if argv == ["--report"]:  # the summary of the last run, without running again
        code = 0
    elif argv == ["--recheck"]:
        recheck()
        code = 0
    else:
        stage()
        code = run(argv)
        recheck()
    table, survivors = summary(results())
    print("\nMutation score (killed / (killed + survived); equivalent mutants listed in mutation-equivalents.toml):")
    print(table)
    if survivors:
        print(f"\n{len(survivors)} surviving mutants want a test (or a reason in mutation-equivalents.toml):")
        print("\n".join(f"  {name}" for name in survivors))
        print("See one: cd .mutate && ../.venv-mutate/bin/mutmut show NAME")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
