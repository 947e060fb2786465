"""``make mutate``'s report hides nothing: a mutant that no test reaches is a survivor, listed by name; only a
failing test kills one; equivalents (with their reasons in mutation-equivalents.toml) are counted apart."""

from __future__ import annotations

import pytest

from scripts import mutate

HEADER = "| file | mutants | killed | survived | equivalent | integration | other | score |"


@pytest.fixture(autouse=True)
def judged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        mutate,
        "judged",
        lambda: {
            "equivalent": {"pkg.mod.f__mutmut_4": "a reason"},
            "integration": {"pkg.mod.f__mutmut_5": "the broker's tests kill it"},
        },
    )


def row(table: str, path: str) -> list[str]:
    (line,) = [line for line in table.splitlines() if line.startswith(f"| {path} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_a_mutant_no_test_reaches_is_a_survivor_named_in_the_report() -> None:
    outcomes: dict[str, int | None] = {
        "pkg.mod.f__mutmut_1": 1,  # a test failed: killed
        "pkg.mod.f__mutmut_2": 33,  # mutmut: "no tests" reach the mutated function
        "pkg.mod.f__mutmut_3": 5,  # pytest collected no test for it
        "pkg.mod.f__mutmut_6": 0,  # every test passed
    }

    table, survivors = mutate.summary(outcomes)

    assert table.splitlines()[0] == HEADER
    assert row(table, "pkg/mod.py") == ["pkg/mod.py", "4", "1", "3", "0", "0", "0", "25%"]
    assert survivors == ["pkg.mod.f__mutmut_2", "pkg.mod.f__mutmut_3", "pkg.mod.f__mutmut_6"]


def test_equivalents_and_integration_kills_are_apart_and_timeouts_are_other() -> None:
    outcomes: dict[str, int | None] = {
        "pkg.mod.f__mutmut_1": 1,
        "pkg.mod.f__mutmut_3": 3,  # pytest's internal error: killed, as mutmut counts it
        "pkg.mod.f__mutmut_4": 0,  # listed as equivalent
        "pkg.mod.f__mutmut_5": 0,  # listed as killed by the integration tests
        "pkg.mod.f__mutmut_7": 36,  # timed out
        "pkg.mod.f__mutmut_8": None,  # not run
    }

    table, survivors = mutate.summary(outcomes)

    assert row(table, "pkg/mod.py") == ["pkg/mod.py", "6", "2", "0", "1", "1", "2", "100%"]
    assert survivors == []


def test_an_equivalent_that_a_test_kills_counts_as_killed() -> None:
    table, survivors = mutate.summary({"pkg.mod.f__mutmut_4": 1})

    assert row(table, "pkg/mod.py") == ["pkg/mod.py", "1", "1", "0", "0", "0", "0", "100%"]
    assert survivors == []
