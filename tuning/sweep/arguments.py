"""Arguments at every depth, checked before anything starts: nested `class_path` entries (LightningCLI)
and `_target_` nodes (Hydra) against their classes' signatures, and plain values against annotations.

`tuning validate` reads each class from its source where it can (tuning.sweep.signatures), so these checks
import no torch; a class it cannot read is imported. What this cannot tell (a bare class name that
LightningCLI resolves among a parameter type's subclasses, an annotation it does not know) is left to
the driver's preflight, which builds the sections with LightningCLI's and Hydra's own machinery
(tuning.sweep.build) before Ray starts.
"""

import ast

from tuning.errors import UserError

HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")


def check_tree(args: dict, sig, where: str, searched: dict, hydra: bool, static: bool) -> None:
    """Check one class's arguments (`args`, at key path `where` + `.<name>`), then every entry nested in them.

    `sig` is the class's Signature (tuning.sweep.signatures) or None when unknown; `searched` maps canonical
    space keys -> (the path the user wrote it at in search.space, its Domain)."""
    for name, value in args.items():
        if hydra and name in HYDRA_KEYS:
            continue
        at = f"{where}.{name}"
        annotation = sig.annotations.get(name) if sig else None
        problem = None if isinstance(value, (dict, list)) else type_problem(annotation, value)
        if problem and at not in searched:  # a searched value replaces it in every trial
            raise UserError(f"{at}: {problem}")
        _check_value(value, at, annotation, searched, hydra, static)
    for key, entry in searched.items():
        if key.startswith(f"{where}.") and "." not in key[len(where) + 1 :] and sig:
            _check_searched(key, entry, sig.annotations.get(key[len(where) + 1 :]))


def _check_value(value, at: str, annotation: str | None, searched: dict, hydra: bool, static: bool) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(item, f"{at}.{i}", None, searched, hydra, static)
    elif isinstance(value, dict) and not hydra and isinstance(value.get("class_path"), str):
        _check_entry(value["class_path"], value.get("init_args") or {}, at, annotation, searched, static)
    elif isinstance(value, dict) and hydra and isinstance(value.get("_target_"), str):
        _check_hydra(value, at, searched, static)
    elif isinstance(value, dict):
        check_tree(value, None, at, searched, hydra, static)


def _check_entry(
    class_path: str, init_args: dict, at: str, annotation: str | None, searched: dict, static: bool
) -> None:
    """A nested `{class_path, init_args}`: the class exists and takes these arguments. A parameter typed as a
    callable (`OptimizerCallable`) gets a callable that is given the rest later, so none is required."""
    if "." not in class_path:  # LightningCLI resolves a bare name among the parameter type's subclasses
        return
    sig = signature_of(class_path, f"{at}.class_path", static)
    given = {**{n: f"{at}.init_args.{n}" for n in init_args}, **_searched_args(searched, f"{at}.init_args")}
    callable_typed = annotation is not None and "Callable" in annotation
    check_given(sig, given, f"{at}.init_args", required=not callable_typed)
    check_tree(init_args, sig, f"{at}.init_args", searched, False, static)


def _check_hydra(node: dict, at: str, searched: dict, static: bool) -> None:
    """A nested `_target_` node: its keys are the target's arguments; `_partial_: true` leaves some for later,
    `_args_` gives the first ones by position."""
    sig = signature_of(node["_target_"], f"{at}._target_", static, classes_only=False)
    if sig is None:  # a function, or a class whose signature cannot be read: Hydra checks it at preflight
        return
    check_hydra_args(sig, node, at, searched)
    check_tree(node, sig, at, searched, True, static)


def check_hydra_args(sig, node: dict, at: str, searched: dict) -> None:
    """A Hydra node's own keys (and searched keys under it) against the target's signature."""
    given = {**{n: f"{at}.{n}" for n in node if n not in HYDRA_KEYS}, **_searched_args(searched, at)}
    by_position = sig.positional[: len(node.get("_args_") or [])]
    given.update({n: f"{at}._args_" for n in by_position})
    check_given(sig, given, at, required=not node.get("_partial_"))


def _searched_args(searched: dict, prefix: str) -> dict:
    """Argument name -> search.space path, for the searched keys right under `prefix`."""
    out = {}
    for key, path in searched.items():
        if key.startswith(f"{prefix}."):
            out.setdefault(key[len(prefix) + 1 :].split(".")[0], f"search.space.{path[0]}")
    return out


def check_given(sig, given: dict, where: str, required: bool = True) -> None:
    """Every given argument exists (with did-you-mean) and, if `required`, every required one is given."""
    from tuning.sweep.class_paths import check_arguments

    if not required:
        sig = type(sig)(sig.owner, {n: False for n in sig.named}, sig.var_kw, sig.annotations, sig.positional)
    check_arguments(sig, given, where)


def signature_of(class_path: str, where: str, static: bool, classes_only: bool = True):
    """The Signature of a dotted class path, from source when `static` and it can, else imported; a UserError
    naming `where` when there is no such class. None for a target that is not a class (classes_only False)."""
    import inspect

    from tuning.sweep.class_paths import from_source, parameters, resolve_class, split_path

    module_name, _, name = class_path.rpartition(".")
    if static and module_name:
        from tuning.errors import did_you_mean
        from tuning.sweep.signatures import unbound

        names = unbound(module_name, name)
        if names is not None:
            raise UserError(f"{where}: module '{module_name}' has no class '{name}'{did_you_mean(name, names)}")
        found = from_source(module_name, name, None)
        if found is not None:
            return found[0]
    if not classes_only and "." in class_path:
        from tuning.sweep.lightning_cli import import_name

        target = import_name(class_path, "builtins")
        if target is not None and not inspect.isclass(target):
            return None
    if split_path("nested", class_path) is None:
        raise UserError(f"{where}: '{class_path}' is not a dotted import path like my_pkg.module.MyClass")
    return parameters(resolve_class("nested", class_path, where=where))


# --- values against annotations ------------------------------------------------------------------------

_NAMES = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "List": (list,),
    "Sequence": (list,),
    "tuple": (list,),
    "Tuple": (list,),
    "dict": (dict,),
    "Dict": (dict,),
    "Mapping": (dict,),
    "None": (type(None),),
    "NoneType": (type(None),),
}
_ANY = ("Any", "object")


def type_problem(annotation: str | None, value) -> str | None:
    """What is wrong with a plain value for an annotation (as source text), or None when it fits or the
    annotation is not one of the plain types this knows (a class type is left to the preflight)."""
    if not annotation or (isinstance(value, str) and "${" in value):  # an interpolation: resolved when built
        return None
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return None
    fits = _fits(node, value)
    return None if fits is not False else f"expects {annotation}, got {value!r}"


def _fits(node, value) -> bool | None:
    """True, False, or None (unknown) for `value` against an annotation's AST."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):  # a string annotation: "int"
            return _fits(ast.parse(node.value, mode="eval").body, value) if node.value else None
        return value is node.value if node.value is None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _any_fits([node.left, node.right], value)
    if isinstance(node, ast.Subscript):
        head = _name(node.value)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            return True if value is None else _fits(items[0], value)
        if head == "Union":
            return _any_fits(items, value)
        if head == "Literal":
            return any(isinstance(i, ast.Constant) and i.value == value for i in items)
        return _fits(node.value, value) if head in _NAMES else None
    name = _name(node)
    if name in _ANY:
        return True
    if name not in _NAMES:
        return None
    return isinstance(value, _NAMES[name]) and not (isinstance(value, bool) and bool not in _NAMES[name])


def _any_fits(nodes, value) -> bool | None:
    answers = [_fits(n, value) for n in nodes]
    return True if True in answers else (None if None in answers else False)


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _check_searched(key: str, searched: tuple, annotation: str | None) -> None:
    """A searched key's values against the argument's annotation: a float range for an `int` argument fails
    in every trial (LightningCLI refuses 37.5, and quniform's 32.0, for an int)."""
    path, domain = searched
    if annotation is None:
        return
    samples = (
        list(domain.args)
        if domain.kind in ("choice", "grid")
        else ([domain.args[0]] if domain.kind == "randint" else [float(domain.args[0])])
    )
    for value in samples:
        problem = type_problem(annotation, value)
        if problem:
            hint = "; search an int with randint or a choice of ints" if annotation == "int" else ""
            raise UserError(f"search.space.{path}: {domain.kind} gives {value!r} but {key} {problem}{hint}")
