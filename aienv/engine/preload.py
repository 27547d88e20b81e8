"""Import, ahead of a plan, the provider SDK modules a program's code refers to.

Provider SDKs load their submodules lazily: `pulumi_aws.ec2` is an `importlib.util.LazyLoader` module until the
program first touches it, so the first plan in a process pays for every submodule it uses (about as much as the
plan itself for azure-native). `aienv check` forks its first-preview worker before the known plan; loading those
modules first means the worker finds them imported instead of importing them a second time.

What to load is read off the bytecode of the program's own modules: a chain of attribute loads on a provider
module their functions use (`aws.ec2.Vpc` loads `pulumi_aws.ec2`; `k8s.core.v1.Namespace`, `pulumi_kubernetes.core`
and `.core.v1`), starting from a global name that is a provider module. An attribute name alone (`self.security`)
loads nothing. A chain it misses (through a local variable) costs only that import twice; a module on a branch the
spec does not take, one import.
"""

from __future__ import annotations

import dis
import importlib
import pkgutil
import sys
import types
from collections.abc import Iterable, Iterator


def preload(packages: Iterable[str]) -> int:
    """Import `packages` (and every module under a package) and the provider submodules their code reaches.
    Returns how many lazy modules were loaded."""
    modules: list[types.ModuleType] = []
    for name in packages:
        module = importlib.import_module(name)
        modules.append(module)
        if hasattr(module, "__path__"):
            for info in pkgutil.walk_packages(module.__path__, f"{name}."):
                modules.append(importlib.import_module(info.name))
    loaded = 0
    for module in modules:
        namespace = vars(module)
        for value in list(namespace.values()):
            if getattr(value, "__module__", None) != module.__name__:
                continue  # imported from elsewhere: its own module is read, or it is not the program's code
            for code in _code_objects(value):
                for chain in _attribute_chains(code):
                    loaded += _load_chain(namespace.get(chain[0]), chain[1:])
    return loaded


# Opcodes and how their argument indexes `co_names` (the `dis` documentation: LOAD_GLOBAL's name is
# `co_names[namei>>1]` since 3.11, LOAD_ATTR's since 3.12; LOAD_METHOD exists in 3.11 only). Decoding the raw
# bytecode is ~20x cheaper than `dis.get_instructions`, which builds an object per instruction.
_OP = dis.opmap
_GLOBAL_SHIFT = {_OP["LOAD_GLOBAL"]: 1, _OP["LOAD_NAME"]: 0}
_ATTR_SHIFT = {_OP["LOAD_ATTR"]: 0 if sys.version_info < (3, 12) else 1}
if "LOAD_METHOD" in _OP:
    _ATTR_SHIFT[_OP["LOAD_METHOD"]] = 0
_CACHE = _OP.get("CACHE", -1)  # inline cache entries between instructions (3.11+)


def _attribute_chains(code: types.CodeType) -> Iterator[list[str]]:
    """Each `name.attr.attr...` the code loads from a global name: [name, attr, ...]."""
    raw, names = code.co_code, code.co_names
    chain: list[str] = []
    extended = 0
    for i in range(0, len(raw), 2):
        op = raw[i]
        arg = raw[i + 1] | extended
        if op == dis.EXTENDED_ARG:
            extended = arg << 8
            continue
        extended = 0
        if op == _CACHE:
            continue
        if op in _GLOBAL_SHIFT:
            if len(chain) > 1:
                yield chain
            chain = [names[arg >> _GLOBAL_SHIFT[op]]]
        elif op in _ATTR_SHIFT and chain:
            chain.append(names[arg >> _ATTR_SHIFT[op]])
        else:
            if len(chain) > 1:
                yield chain
            chain = []
    if len(chain) > 1:
        yield chain


def _load_chain(value: object, attributes: list[str]) -> int:
    """Load the lazy provider modules along `value.attr.attr...` while each step is a provider module."""
    loaded = 0
    for attribute in attributes:
        if not isinstance(value, types.ModuleType) or not value.__name__.startswith("pulumi_"):
            break
        value = vars(value).get(attribute)
        if isinstance(value, types.ModuleType) and _lazy(value):
            getattr(value, "_aienv_preload", None)  # any attribute but the module's own dunders loads it
            loaded += 1
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
