"""Finding a class named in configuration ("package.module:Class"), so the core never imports
an adapter or handler by name."""
from __future__ import annotations

import importlib


def load_class(target: str, setting: str, name: str) -> type:
    module_name, _, class_name = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"{setting}: {name!r}: cannot load {target!r}: {exc}") from exc
