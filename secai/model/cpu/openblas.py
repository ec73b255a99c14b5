"""Linux CPU speed-up: run MLX with Debian's OpenBLAS preloaded.

The `mlx[cpu]` wheel sends float32 matrix products through a slow bundled BLAS; with
`libopenblas.so.0` in `LD_PRELOAD` the same products are many times faster (docs/generation-speed.md
measured it). A preload only works from process start, so the CLI re-executes itself once with it
set, before MLX is imported. Opt out with `SECAI_NO_OPENBLAS=1` or `model.openblas_preload: false`;
nothing happens off Linux, when the library is absent, or when it is already preloaded.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("secai")

OPT_OUT_ENV = "SECAI_NO_OPENBLAS"
#: Set in the re-executed process so it never re-executes again.
GUARD_ENV = "SECAI_OPENBLAS_REEXEC"
LIBRARY = "libopenblas.so.0"
_SEARCH_DIRS = (
    "/usr/lib/x86_64-linux-gnu/openblas-pthread",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
)


def find_openblas(search_dirs: tuple[str, ...] = _SEARCH_DIRS) -> Path | None:
    for d in search_dirs:
        p = Path(d) / LIBRARY
        if p.is_file():
            return p
    return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def already_preloaded(environ: dict[str, str]) -> bool:
    return any(
        Path(p).name.startswith("libopenblas") for p in environ.get("LD_PRELOAD", "").replace(" ", ":").split(":") if p
    )


def preload_env(environ: dict[str, str], enabled: bool = True, platform: str = sys.platform) -> dict[str, str] | None:
    """The environment to re-execute with, or None when no re-exec should happen."""
    if platform != "linux" or not enabled or _truthy(environ.get(OPT_OUT_ENV)) or environ.get(GUARD_ENV):
        return None
    if already_preloaded(environ):
        return None
    lib = find_openblas()
    if lib is None:
        return None
    env = dict(environ)
    env["LD_PRELOAD"] = ":".join(p for p in (str(lib), environ.get("LD_PRELOAD", "")) if p)
    env[GUARD_ENV] = "1"
    return env


def maybe_reexec(argv: list[str], enabled: bool = True, command: list[str] | None = None) -> None:
    """Replace this process with `COMMAND ARGV` (default `python -m secai.cli`) under the OpenBLAS
    preload when that applies; return normally otherwise (and when the exec itself fails)."""
    if "mlx" in sys.modules or "mlx.core" in sys.modules:
        return  # too late: the bundled BLAS is already loaded in this process
    env = preload_env(dict(os.environ), enabled)
    if env is None:
        return
    log.debug("re-running with LD_PRELOAD=%s", env["LD_PRELOAD"])
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        cmd = command or [sys.executable, "-m", "secai.cli"]
        os.execve(cmd[0], [*cmd, *argv], env)
    except OSError as e:
        log.debug("OpenBLAS re-exec failed (%s); continuing without it", e)


def openblas_loaded() -> bool:
    """Whether OpenBLAS is mapped into this process (Linux; False elsewhere)."""
    try:
        return "libopenblas" in Path("/proc/self/maps").read_text()
    except OSError:
        return False
