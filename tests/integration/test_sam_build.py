"""`sam build` makes a deployable package here: the handler's modules, its pinned runtime dependency, and their
bytecode (checked-hash .pyc files, which Lambda's read-only /var/task could not cache: functions/scheduler/Makefile)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.template import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_sam_build_packages_the_function(tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    result = subprocess.run(  # noqa: S603 - aws-sam-cli from the project's virtualenv
        [
            str(venv_bin / "sam"),
            "build",
            "--build-dir",
            str(tmp_path / "build"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{venv_bin}:{os.environ['PATH']}"},
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    package = tmp_path / "build" / "SchedulerFunction"
    for module in ("app.py", "http_edge.py", "direct_edge.py", "rules.py", "store.py", "observability.py"):
        assert (package / "scheduler_service" / module).is_file(), module
    # The contract the function shares with the client, from the client's source tree: the same files.
    contract = PROJECT_ROOT / "client" / "src" / "scheduler_contract"
    for source in contract.glob("*.py"):
        assert (package / "scheduler_contract" / source.name).read_bytes() == source.read_bytes(), source.name
    assert not (package / "pyproject.toml").exists()  # the development install's, not Lambda's
    assert (package / "aws_lambda_powertools").is_dir()
    assert not (package / "boto3").exists()  # the runtime provides it; the package stays small
    tag = sys.implementation.cache_tag
    for module in ("scheduler_service/app", "scheduler_service/store", "scheduler_contract/tags"):
        folder, name = module.split("/")
        header = (package / folder / "__pycache__" / f"{name}.{tag}.pyc").read_bytes()[:8]
        # PEP 552: bit 0 hash-based, bit 1 checked against the source when imported.
        assert int.from_bytes(header[4:8], "little") == 0b11, module
    assert (tmp_path / "build" / "template.yaml").is_file()
