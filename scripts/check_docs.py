"""`make docs-check` (part of `make test`): the Markdown cannot point at what is not there.

- Every relative link (``[text](path)``, ``[text](path#anchor)``) resolves to a file or folder of the
  repository, and an anchor to a heading of that file (GitHub's slugs).
- Every ``make <target>`` the docs name is a target of the Makefile.
- Every command the README shows in a shell block is one the project has: a make target, a ``scheduler``
  command whose options its parser accepts, a file of the repository, or one of the few outside tools the docs
  are about (curl, aws, jq, git, pip, ...).

Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Tools from outside the project that the README's commands may start with.
OUTSIDE_TOOLS = frozenset(
    {"curl", "aws", "jq", "git", "pip", "python", "python3", "npm", "sam", "bash", "awscurl", "sudo"}
    | {"cd", "export", ".", "source", "kill"}  # the shell's own builtins
)
SKIPPED_DIRS = {
    ".git",
    ".venv",
    ".venv-scan",
    ".venv-mutate",
    "node_modules",
    ".mutate",
    ".aws-sam",
    ".local",
}
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
MAKE_MENTION = re.compile(r"`make ([a-z][a-z0-9-]*)|^\$? ?make ([a-z][a-z0-9-]*)", re.MULTILINE)
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_LANGUAGES = {"console", "sh", "shell", "bash", "shell-session"}


def markdown_files(root: Path = ROOT) -> list[Path]:
    return sorted(path for path in root.rglob("*.md") if not SKIPPED_DIRS.intersection(path.relative_to(root).parts))


def make_targets(root: Path = ROOT) -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (root / "Makefile").read_text(), flags=re.MULTILINE))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    in_code = False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        base = slug(line.lstrip("#"))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def outside_code_blocks(text: str) -> str:
    kept, in_code = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            kept.append(line)
    return "\n".join(kept)


def broken_links(path: Path, root: Path = ROOT) -> Iterator[str]:
    for target in LINK.findall(outside_code_blocks(path.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("mailto:"):
            continue  # an absolute URL: not ours to check offline
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            yield f"{path.relative_to(root)}: link to {target!r}: no such file"
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            yield f"{path.relative_to(root)}: link to {target!r}: no heading with that anchor"


def unknown_make_targets(path: Path, targets: set[str], root: Path = ROOT) -> Iterator[str]:
    mentioned = {first or second for first, second in MAKE_MENTION.findall(path.read_text())}
    for target in sorted(mentioned):
        if target not in targets:
            yield f"{path.relative_to(root)}: names `make {target}`, which the Makefile does not have"


def shell_commands(text: str) -> Iterator[str]:
    """The commands of the shell blocks: ``$ ``-prompted lines of console blocks, every line of sh blocks;
    continuation lines (after a trailing backslash) are joined."""
    language: str | None = None
    pending = ""
    for raw in text.splitlines():
        fence = FENCE.match(raw)
        if fence:
            language = None if language is not None else fence.group(1)
            continue
        if language not in SHELL_LANGUAGES:
            continue
        line = raw
        if pending:
            line = pending + " " + raw.strip()
            pending = ""
        elif language == "console":
            if not raw.startswith("$ "):
                continue
            line = raw[2:]
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1]
            continue
        if line.strip() and not line.lstrip().startswith("#"):
            yield line.strip()


def unknown_commands(path: Path, targets: set[str], root: Path = ROOT) -> Iterator[str]:
    for command in shell_commands(path.read_text()):
        for simple in simple_commands(command):
            problem = judge(simple, targets, root)
            if problem:
                yield f"{path.relative_to(root)}: `{' '.join(simple)}`: {problem}"


def simple_commands(command: str) -> Iterator[list[str]]:
    """The words of each simple command of a line (split at ``&&``, ``||``, ``;`` and ``|``, quotes kept
    whole, comments dropped)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    try:
        tokens = list(lexer)
    except ValueError:  # an unclosed quote: judge the words as they stand
        tokens = command.split()
    for token in tokens:
        if token in ("&&", "||", ";", "|", "&"):
            if words:
                yield words
            words = []
        elif token not in ("(", ")", ">", ">>", "<"):
            words.append(token)
    if words:
        yield words


def judge(words: list[str], targets: set[str], root: Path) -> str | None:
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):  # VAR=value before the command
        words = words[1:]
    if not words:
        return None
    program, arguments = words[0], words[1:]
    if program == "make":
        named = [word for word in arguments if not word.startswith("-") and "=" not in word]
        missing = [word for word in named if word not in targets]
        return f"no make target {', '.join(missing)}" if missing else None
    if program == "scheduler" or program.endswith("/bin/scheduler"):
        return _scheduler_problem(arguments)
    if "/" in program:
        return None if (root / program).exists() else f"no file {program}"
    if program in OUTSIDE_TOOLS:
        return None
    return f"{program!r} is neither a make target, the scheduler command, a file here nor a known outside tool"


def _scheduler_problem(arguments: list[str]) -> str | None:

    from scheduler_client.cli import build_parser  # noqa: PLC0415 - the CLI, only to check the commands the docs name

    concrete = [re.sub(r"\$\{?[A-Za-z_]+\}?", "x", word) for word in arguments]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(concrete)
    except SystemExit as ended:
        if ended.code not in (0, None):
            return f"the scheduler command refuses it: {errors.getvalue().strip()}"
    return None


def problems(root: Path = ROOT) -> list[str]:
    targets = make_targets(root)
    found: list[str] = []
    for path in markdown_files(root):
        found.extend(broken_links(path, root))
        found.extend(unknown_make_targets(path, targets, root))
    found.extend(unknown_commands(root / "README.md", targets, root))
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(problem)
    if found:
        print(f"docs-check: {len(found)} problem(s)")
        return 1
    print(f"docs-check: {len(markdown_files())} Markdown files, every link, make target and README command holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
