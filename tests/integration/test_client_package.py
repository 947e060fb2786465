"""`pip install ./client` works anywhere: the wheel pip builds holds the typed package, the `scheduler`
console script, the console's page, botocore as its only dependency and Python >= 3.11."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from local_stack.template import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_the_wheel_is_typed_has_the_cli_and_needs_only_botocore_and_paho_mqtt(tmp_path: Path) -> None:
    subprocess.run(  # noqa: S603 - pip on our own package
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), "./client"],
        cwd=PROJECT_ROOT,
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("scheduler_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "scheduler_client/py.typed" in names
    modules = ("client", "watcher", "push", "testing", "cli", "signing", "errors", "history", "console")
    assert {f"scheduler_client/{m}.py" for m in modules} <= names
    # scheduler console's page ships in the package: no build step, nothing fetched at run time.
    page = ("index.html", "console.js", "console.css")
    assert {f"scheduler_client/console_static/{name}" for name in page} <= names
    assert not any(name.startswith("tests/") for name in names)
    assert "Name: scheduler-client" in metadata
    assert "Requires-Python: >=3.11" in metadata
    assert [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")] == [
        "Requires-Dist: botocore>=1.31",
        "Requires-Dist: paho-mqtt<3,>=2.1",
    ]
    assert "scheduler = scheduler_client.cli:main" in entry_points
