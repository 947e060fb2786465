"""`make docs-check` finds what the Markdown points at but the repository lacks: a broken link or anchor, a
make target that does not exist, a README command the project does not have."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import check_docs


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    (tmp_path / "Makefile").write_text("run:  ## serve\n\techo run\ntest:\n\techo test\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text("# The API\n\n## Conditional requests\n\ntext\n")
    return tmp_path


def write_readme(repository: Path, text: str) -> None:
    (repository / "README.md").write_text(text)


def test_a_readme_whose_links_targets_and_commands_all_hold_has_no_problem(repository: Path) -> None:
    write_readme(
        repository,
        "See [the API](docs/api.md#conditional-requests) and [docs](docs/).\n\n"
        "```console\n$ make run\n$ curl -s http://127.0.0.1:3000/scheduler/ | jq .\n$ scheduler status --json\n```\n",
    )

    assert check_docs.problems(repository) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[gone](docs/missing.md)\n", "link to 'docs/missing.md': no such file"),
        ("[anchor](docs/api.md#no-such-heading)\n", "no heading with that anchor"),
        ("Run `make deploy` first.\n", "names `make deploy`, which the Makefile does not have"),
        ("```console\n$ make run && make teardown\n```\n", "no make target teardown"),
        ("```sh\nfrobnicate --all\n```\n", "'frobnicate' is neither a make target"),
        ("```console\n$ scheduler status --no-such-option\n```\n", "the scheduler command refuses it"),
        ("```console\n$ scripts/missing.py --now\n```\n", "no file scripts/missing.py"),
    ],
    ids=[
        "missing-file",
        "missing-anchor",
        "unknown-target-in-text",
        "unknown-target-in-block",
        "unknown-program",
        "unknown-cli-option",
        "missing-script",
    ],
)
def test_each_kind_of_problem_is_reported(repository: Path, text: str, problem: str) -> None:
    write_readme(repository, text)

    found = check_docs.problems(repository)

    assert len(found) == 1, found
    assert problem in found[0]
    assert found[0].startswith("README.md: ")


def test_links_in_code_blocks_and_absolute_urls_are_not_followed(repository: Path) -> None:
    write_readme(repository, "[AWS](https://aws.amazon.com/)\n\n```text\n[not a link](nowhere.md)\n```\n")

    assert check_docs.problems(repository) == []


def test_continued_lines_are_judged_as_one_command(repository: Path) -> None:
    write_readme(repository, "```console\n$ make run \\\n    PORT=3001\n```\n")

    assert check_docs.problems(repository) == []


def test_this_repositorys_docs_hold() -> None:
    assert check_docs.problems() == []
