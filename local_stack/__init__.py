"""The Docker-free local stack: DynamoDB Local, the table from template.yaml, and SAM's own local gateway."""

import sys
from pathlib import Path

# The function's modules are top-level in its Lambda package (CodeUri), so they are top-level here too.
FUNCTION_DIR = str(Path(__file__).resolve().parent.parent / "functions" / "scheduler")
if FUNCTION_DIR not in sys.path:
    sys.path.insert(0, FUNCTION_DIR)
