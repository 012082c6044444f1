"""Classes read from their source with `ast`: constructor arguments and base classes, without importing.

`tuning validate` checks a sweep's classes from here so that it starts in a fraction of a second:
importing a LightningModule imports torch and Lightning (seconds). Every answer is definite or
None, "unknown" (a class built at run time, a decorator, an inherited `__init__`, a module that
is not plain Python source...); on None the caller imports the class and asks `inspect` instead.
"""

import ast
import builtins
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache

MAX_HOPS = 16  # re-exports and base classes followed before the answer is "unknown"
_MISSING = object()  # a name a module does not bind at all (None: bound, but not knowably)


@dataclass(frozen=True)
class Signature:
    """A constructor's arguments as the checks need them."""

    owner: str  # the class name, for messages
    named: dict  # keyword-passable argument -> whether it is required, in order
    var_kw: bool  # whether it takes **kwargs
    annotations: dict = field(default_factory=dict, compare=False)  # argument -> its annotation as source text
    positional: tuple = ()  # the arguments that may be passed by position, in order (Hydra's _args_)


@dataclass(frozen=True)
class ClassRef:
    """A class defined at the top level of a module's source."""

    module: str
    node: ast.ClassDef

    @property
    def key(self) -> tuple[str, str]:
        """(module, class name): where the class is defined."""
        return self.module, self.node.name


def _search_dirs(package: str) -> list[str] | None:
    """The directories a package's submodules are found in, without importing it."""
    loaded = sys.modules.get(package)
    if loaded is not None:
        return list(getattr(loaded, "__path__", None) or []) or None
    head, _, last = package.rpartition(".")
    if not head:
        try:
            spec = importlib.util.find_spec(package)  # a top-level name: found, not imported
        except (ImportError, ValueError):
            return None
        return list(spec.submodule_search_locations or []) if spec else None
    dirs = _search_dirs(head)
    found = [os.path.join(d, last) for d in dirs or [] if os.path.isdir(os.path.join(d, last))]
    regular = [d for d in found if os.path.isfile(os.path.join(d, "__init__.py"))]
    return regular[:1] or found or None  # a regular package wins; else the namespace package's portions


def module_source(name: str) -> tuple[str, bool] | None:
    """(source file, is a package) of module `name`, found without importing it or its parents."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        origin = getattr(getattr(loaded, "__spec__", None), "origin", None) or ""
        return (origin, hasattr(loaded, "__path__")) if origin.endswith(".py") else None
    head, _, last = name.rpartition(".")
    if not head:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec else None
        return (origin, spec.submodule_search_locations is not None) if origin and origin.endswith(".py") else None
    for directory in _search_dirs(head) or []:
        package = os.path.join(directory, last, "__init__.py")
        if os.path.isfile(package):
            return package, True
        if os.path.isfile(os.path.join(directory, last + ".py")):
            return os.path.join(directory, last + ".py"), False
    return None


def _bound_names(stmt: ast.stmt) -> list[str]:
    """Names a statement binds in the scope it runs in (not inside functions or classes it defines)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"]
    # An assignment or a block: every name stored anywhere in it (over-counting only makes answers unknown).
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
    stored = [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return stored + [name for s in ast.walk(stmt) if isinstance(s, nested) for name in _bound_names(s)]


def bindings(body: list[ast.stmt]) -> dict[str, ast.stmt | None]:
    """Name -> the one def, class or import binding it; None if bound twice, by assignment or in a block (if, try)."""
    out: dict[str, ast.stmt | None] = {}
    for stmt in body:
        simple = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))
        for name in _bound_names(stmt):
            out[name] = stmt if simple and name not in out else None
    return out


@lru_cache(maxsize=None)
def _parse(path: str, mtime_ns: int) -> tuple[dict, bool, list[str]]:
    """(bindings, has `import *`, top-level packages it imports) of one source file."""
    with open(path, "rb") as fh:
        tree = ast.parse(fh.read(), filename=path)
    star = any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in tree.body)
    imported = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    imported |= {
        n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module and not n.level
    }
    return bindings(tree.body), star, sorted(imported)


def module_info(name: str) -> tuple[dict, bool, list[str], bool] | None:
    """(bindings, has `import *`, imported top-level packages, is a package) of a module; None if unreadable."""
    found = module_source(name)
    if found is None:
        return None
    path, is_package = found
    try:
        return (*_parse(path, os.stat(path).st_mtime_ns), is_package)
    except (OSError, SyntaxError, ValueError):
        return None


def _absolute(module: str, is_package: bool, stmt: ast.ImportFrom) -> str | None:
    """The absolute module name of `from ... import` in `module`."""
    if not stmt.level:
        return stmt.module
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if stmt.level - 1 > len(parts) - 1:
        return None
    base = ".".join(parts[: len(parts) - (stmt.level - 1)])
    return f"{base}.{stmt.module}" if stmt.module else base


def resolve(module: str, attrs: list[str], hops: int = 0):
    """What `module.a.b...` names: a ClassRef, ("function", module, name), or None when unknown."""
    info = module_info(module) if attrs and hops <= MAX_HOPS else None
    if info is None:
        return None
    names, star, _, is_package = info
    head, rest = attrs[0], attrs[1:]
    stmt = names.get(head, _MISSING)
    if stmt is _MISSING:  # maybe a submodule, as in `pkg.sub.Class`
        return resolve(f"{module}.{head}", rest, hops + 1) if not star and is_package and rest else None
    if isinstance(stmt, ast.ClassDef):
        return ClassRef(module, stmt) if not rest else None
    if isinstance(stmt, ast.FunctionDef):
        return ("function", module, head) if not rest else None
    if isinstance(stmt, ast.Import):
        alias = next(a for a in stmt.names if (a.asname or a.name).split(".")[0] == head)
        return resolve(alias.name if alias.asname else head, rest, hops + 1)
    if isinstance(stmt, ast.ImportFrom):
        source = _absolute(module, is_package, stmt)
        alias = next(a for a in stmt.names if (a.asname or a.name) == head)
        return resolve(source, [alias.name, *rest], hops + 1) if source else None
    return None


def _dotted(expr: ast.expr) -> list[str] | None:
    """`a.b.C` as ['a', 'b', 'C']; None for anything else (a call, a subscript)."""
    if isinstance(expr, ast.Name):
        return [expr.id]
    if isinstance(expr, ast.Attribute):
        head = _dotted(expr.value)
        return head + [expr.attr] if head else None
    return None


def _reference(module: str, expr: ast.expr):
    """What an expression in `module` names: ClassRef, ("function", ...), ("builtin", name) or None."""
    parts = _dotted(expr)
    if parts is None:
        return None
    info = module_info(module)
    if info and len(parts) == 1 and parts[0] not in info[0] and not info[1] and hasattr(builtins, parts[0]):
        return ("builtin", parts[0])
    return resolve(module, parts)


def is_subclass(ref: ClassRef, target: tuple[str, str], hops: int = 0) -> bool | None:
    """Whether the class derives from the class defined at `target` (module, name); None when unknown."""
    if ref.key == target:
        return True
    if hops > MAX_HOPS:
        return None
    answers = []
    for base in ref.node.bases:
        found = _reference(ref.module, base)
        if isinstance(found, ClassRef):
            answers.append(is_subclass(found, target, hops + 1))
        else:  # a builtin (object, dict...) is no subclass of anything of a library's
            answers.append(False if found and found[0] == "builtin" else None)
    return True if True in answers else None if None in answers else False


def signature(ref: ClassRef, trusted: set = frozenset()) -> Signature | None:
    """The arguments of the class's own `__init__`; None when unknown (inherited, decorated, conditional).

    `trusted`: (module, name) of decorators known to keep the signature (they use functools.wraps).
    """
    if ref.node.decorator_list:  # a dataclass, or anything that may rewrite the class
        return None
    init = bindings(ref.node.body).get("__init__")
    if not isinstance(init, ast.FunctionDef):
        return None
    for decorator in init.decorator_list:
        found = _reference(ref.module, decorator)
        if not (isinstance(found, tuple) and found[0] == "function" and found[1:] in trusted):
            return None
    args = init.args
    positional = args.posonlyargs + args.args
    if not positional:  # no `self`: built some unusual way
        return None
    required = [True] * (len(positional) - len(args.defaults)) + [False] * len(args.defaults)
    named = {a.arg: r for a, r in zip(positional, required) if a not in args.posonlyargs and a is not positional[0]}
    named.update({a.arg: d is None for a, d in zip(args.kwonlyargs, args.kw_defaults)})
    annotations = {a.arg: ast.unparse(a.annotation) for a in positional[1:] + args.kwonlyargs if a.annotation}
    return Signature(ref.node.name, named, args.kwarg is not None, annotations, tuple(a.arg for a in positional[1:]))


def importable(ref: ClassRef) -> bool:
    """Whether every package the class's module imports at its top level is installed (found, not imported)."""
    info = module_info(ref.module)
    if info is None:
        return False
    for package in info[2]:
        try:
            if package not in sys.modules and importlib.util.find_spec(package) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def defines(module: str, name: str, method: str) -> bool | None:
    """Whether the class at module.name defines `method` in its own body; None when that cannot be told
    from source (the caller imports the class and asks it)."""
    ref = resolve(module, [name])
    if not isinstance(ref, ClassRef):
        return None
    return True if isinstance(bindings(ref.node.body).get(method), ast.FunctionDef) else None


def unbound(module: str, name: str) -> list[str] | None:
    """The names the module binds, when its source (with no `import *`) certainly does not bind `name`;
    None when it does or that cannot be told. For a missing class named without importing its module."""
    info = module_info(module)
    if info is None or info[1] or name in info[0]:
        return None
    return list(info[0])
