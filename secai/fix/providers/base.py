"""The provider contract and registry.

A provider is a module in `secai/fix/providers/` that defines:

- ``NAME``: its name (``"dependency"``, ``"codemod"``, ``"model"``), as `fix.providers` and
  ``--provider`` spell it;
- ``propose(tasks, ctx) -> dict[int, Outcome]``: outcomes for the tasks (by ``task.id``) it
  could work on, each `verified`, `rejected`, `unverifiable` or `no_proposal` with a reason.
  Tasks it has nothing to say about are left out. A provider verifies its own proposals (the
  scanner through ``ctx.verifier``, or the manifest for dependencies) and returns the first
  verified one.

Providers are tried in the order of `fix.providers`; a task verified by one is not given to the
next. Adding a provider is adding one module.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_REGISTRY: dict[str, ModuleType] | None = None


def registry() -> dict[str, ModuleType]:
    global _REGISTRY
    if _REGISTRY is None:
        import secai.fix.providers as pkg

        mods = {}
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_") or info.name == "base":
                continue
            mod = importlib.import_module(f"secai.fix.providers.{info.name}")
            if callable(getattr(mod, "propose", None)):
                mods[mod.NAME] = mod
        _REGISTRY = mods
    return _REGISTRY


def get_provider(name: str) -> ModuleType:
    mods = registry()
    if name not in mods:
        raise ValueError(f"unknown fix provider {name!r}; providers are {', '.join(sorted(mods))}")
    return mods[name]
