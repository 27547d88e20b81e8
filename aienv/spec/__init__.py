"""The typed stack spec (pydantic v2, no Pulumi imports) and its loader."""

from aienv.spec.loader import LoadedSpec, load_spec, read_vars_file, resolve_spec_path
from aienv.spec.model import StackSpec

__all__ = ["LoadedSpec", "StackSpec", "load_spec", "read_vars_file", "resolve_spec_path"]
