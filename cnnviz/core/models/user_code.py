"""A user's own network from Python code: ``net.py:Net``, ``net.py:make_net`` or ``package.module:Name``.

Importing a file runs it, so callers ask for the user's consent first (``--trust-file``). The file is
imported under a unique module name, with its folder on ``sys.path`` only while it is imported (so
``from blocks import Block`` beside it works); it is never left in ``sys.modules`` under a name another
import could pick up. The same module serves a pickled whole model (``torch.save(model)``), whose
classes were saved from ``__main__`` or from the file's own module name: :func:`code_pickle_module`
gives ``torch.load`` an unpickler that finds those names in the user's code first.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import os
import pickle
import re
import sys
import types
from pathlib import Path
from typing import Any

from torch import nn

from cnnviz.core.errors import ModelError
from cnnviz.core.fileio import read_small_text, regular_file

_COUNTER = itertools.count()
_IDENT = r"[A-Za-z_]\w*"
_MODULE_REF = re.compile(rf"^{_IDENT}(\.{_IDENT})*:{_IDENT}$")


def split_code_ref(text: str) -> tuple[str, str, bool] | None:
    """``(file or module, name, is_file)`` when ``text`` names code (``net.py:Net``, ``pkg.mod:Name``), else None."""
    where, sep, name = text.rpartition(":")
    if not sep or not re.fullmatch(_IDENT, name):
        return None
    if where.endswith(".py"):
        return where, name, True
    if _MODULE_REF.match(text):
        return where, name, False
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def import_file(path: str | os.PathLike[str]) -> types.ModuleType:
    """Run the Python file ``path`` as a fresh module (the caller has the user's consent to run it)."""
    path = Path(path).expanduser()
    regular_file(path, "Python file", ModelError, ".py")
    module_name = f"cnnviz_user_{path.stem if path.stem.isidentifier() else 'code'}_{next(_COUNTER)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"{path.name} cannot be imported as Python code.")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[module_name] = module  # dataclasses and pickling look a class's module up here
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:
        sys.modules.pop(module_name, None)
        raise ModelError(f"{path.name} exited while being imported (SystemExit {exc.code}).") from None
    except BaseException as exc:  # noqa: BLE001 - any failure of the user's code is the user's error
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ModelError(f"{path.name} raised {_one_line(exc)} while being imported.") from None
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    return module


def import_installed(name: str) -> types.ModuleType:
    """An installed module (``package.module``), with a sentence when it is missing or raises."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ModelError(f"There is no installed module '{name}' ({_one_line(exc)}).") from None
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"Module {name} raised {_one_line(exc)} while being imported.") from None


def build_from(module: types.ModuleType, name: str, where: str) -> nn.Module:
    """``name`` in ``module``: a module class built with no arguments, or a function returning a module."""
    try:
        target = getattr(module, name)
    except AttributeError:
        found = sorted(n for n, v in vars(module).items()
                       if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == module.__name__)
        hint = f" It defines {', '.join(found[:6])}." if found else ""
        raise ModelError(f"{where} has no '{name}'.{hint}") from None
    if isinstance(target, nn.Module):
        return target
    if not callable(target):
        raise ModelError(f"{where}:{name} is a {type(target).__name__}, not a network class or a function "
                         f"returning one.")
    what = "class" if isinstance(target, type) else "function"
    if isinstance(target, type) and not issubclass(target, nn.Module):
        raise ModelError(f"{where}:{name} is a class that is not a torch.nn.Module.")
    try:
        model = target()
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{where}:{name}() raised {_one_line(exc)} (cnnviz calls the {what} with no "
                         f"arguments).") from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"{where}:{name}() returned a {type(model).__name__}, not a torch.nn.Module.")
    return model


def model_from_code(ref: str) -> tuple[nn.Module, types.ModuleType, Path | None]:
    """Build the network ``ref`` names (``net.py:Net`` or ``pkg.mod:Name``): the model, its module, its file."""
    parts = split_code_ref(ref)
    if parts is None:
        raise ModelError(f"'{ref}' does not name code; write FILE.py:NAME or package.module:NAME.")
    where, name, is_file = parts
    if is_file:
        path = Path(where).expanduser()
        module = import_file(path)
        return build_from(module, name, path.name), module, path
    module = import_installed(where)
    file = getattr(module, "__file__", None)
    return build_from(module, name, where), module, Path(file) if file else None


class MissingClassError(Exception):
    """A pickle names a class (``module.Name``, the message) that cannot be imported here."""


def code_pickle_module(code: types.ModuleType | None, stem: str | None = None) -> Any:
    """A ``pickle_module`` for ``torch.load`` whose unpickler finds the names ``code`` defines first.

    A class saved from ``__main__`` (or from the code file's own module name, ``stem``) is looked up in
    ``code``; everything else the usual way."""

    class Unpickler(pickle.Unpickler):
        def find_class(self, module_name: str, name: str) -> Any:
            local = module_name in ("__main__", stem) or module_name.rpartition(".")[2] == stem
            if code is not None and local and hasattr(code, name):
                return getattr(code, name)
            try:
                return super().find_class(module_name, name)
            except (ImportError, AttributeError):
                raise MissingClassError(f"{module_name}.{name}") from None

    namespace = types.SimpleNamespace(**{k: getattr(pickle, k) for k in dir(pickle) if not k.startswith("__")})
    namespace.Unpickler = Unpickler
    namespace.__name__ = "cnnviz_code_pickle"
    return namespace


def network_names(path: str | os.PathLike[str]) -> list[str]:
    """The public classes and functions a Python file defines at its top level, read by parsing it (no
    code runs), so the app can offer them before the user has agreed to import the file."""
    import ast

    source = read_small_text(Path(path), 4 * 1024**2, "Python file", ModelError)
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise ModelError(f"{Path(path).name} is not valid Python (line {exc.lineno}: {exc.msg}).") from None
    return [node.name for node in tree.body
            if isinstance(node, ast.ClassDef | ast.FunctionDef) and not node.name.startswith("_")]
