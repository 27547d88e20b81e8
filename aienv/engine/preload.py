"""Import, ahead of a plan, the provider SDK modules a program's code refers to.

Provider SDKs load their submodules lazily: `pulumi_aws.ec2` is an `importlib.util.LazyLoader` module until the
program first touches it, so the first plan in a process pays for every submodule it uses (about as much as the
plan itself for azure-native). `aienv check` forks its first-preview worker before the known plan; loading those
modules first means the worker finds them imported instead of importing them a second time.

What to load is read off the code of the program's own modules: an attribute name their functions use
(`aws.ec2.Vpc` uses `ec2`) that is a lazy submodule of an imported provider package is loaded, and so on down
(`k8s.core.v1`). A name it misses costs only that import twice; a name it adds needlessly, one import.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from collections.abc import Iterable, Iterator


def preload(packages: Iterable[str]) -> int:
    """Import `packages` (and every module under a package) and the provider submodules their code names.
    Returns how many lazy modules were loaded."""
    modules: list[types.ModuleType] = []
    for name in packages:
        module = importlib.import_module(name)
        modules.append(module)
        if hasattr(module, "__path__"):
            for info in pkgutil.walk_packages(module.__path__, f"{name}."):
                modules.append(importlib.import_module(info.name))
    names: set[str] = set()
    for module in modules:
        for value in vars(module).values():
            if getattr(value, "__module__", None) != module.__name__:
                continue  # imported from elsewhere: its own module is read, or it is not the program's code
            for code in _code_objects(value):
                names.update(code.co_names)
    loaded = 0
    seen: set[str] = set()
    pending = [m for n, m in list(sys.modules.items()) if n.startswith("pulumi_") and "." not in n and not _lazy(m)]
    while pending:
        module = pending.pop()
        if module.__name__ in seen:
            continue
        seen.add(module.__name__)
        for attr, value in list(vars(module).items()):
            if attr not in names or not isinstance(value, types.ModuleType):
                continue
            if _lazy(value):
                getattr(value, "_aienv_preload", None)  # any attribute but the module's own dunders loads it
                loaded += 1
            pending.append(value)
    return loaded


def _lazy(module: object) -> bool:
    return type(module).__name__ == "_LazyModule"


def _code_objects(value: object) -> Iterator[types.CodeType]:
    """The code of a function, of a class's methods and properties, and of the functions nested in them."""
    stack: list[types.CodeType] = []
    if isinstance(value, types.FunctionType):
        stack.append(value.__code__)
    elif isinstance(value, type):
        for member in vars(value).values():
            function = getattr(member, "__func__", member)
            if isinstance(function, types.FunctionType):
                stack.append(function.__code__)
            elif isinstance(member, property):
                stack.extend(f.__code__ for f in (member.fget, member.fset) if isinstance(f, types.FunctionType))
    while stack:
        code = stack.pop()
        yield code
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
