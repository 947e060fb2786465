"""The project's scripts, run from the project's root as modules (``python -m scripts.bench``), so that they
import the local stack, the function's package and each other by name."""
