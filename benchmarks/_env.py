"""The benchmarks run with the project's interpreter: say so, instead of a traceback, when another one runs them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def require_project_interpreter(script: str) -> None:
    """Exit with one clear line when `aienv` or the Pulumi SDK is not importable by this interpreter."""
    missing = [name for name in ("pulumi", "aienv") if importlib.util.find_spec(name) is None]
    if missing:
        venv = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
        sys.exit(f"{script}: {', '.join(missing)} is not installed for {sys.executable}; run it with the project's "
                 f"virtualenv: {venv if venv.exists() else '.venv/bin/python'} {script} "
                 "(create it as the README's quick start does)")
