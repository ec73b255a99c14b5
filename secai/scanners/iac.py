"""Which file names infrastructure-as-code scanners (checkov, `trivy config`) look at."""

from __future__ import annotations

#: JSON files that are package or tool metadata, never infrastructure templates.
NOT_TEMPLATES = frozenset(
    {
        "package.json",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "composer.json",
        "composer.lock",
        "tsconfig.json",
        "jsconfig.json",
        ".eslintrc.json",
        ".prettierrc.json",
        "Pipfile.lock",
        "poetry.lock",
        "yarn.lock",
        "pnpm-lock.yaml",
        ".pre-commit-config.yaml",
        ".secrets.baseline",
    }
)


def is_dockerfile(name: str) -> bool:
    low = name.lower()
    return (
        low in ("dockerfile", "containerfile")
        or low.startswith(("dockerfile.", "containerfile."))
        or low.endswith((".dockerfile", ".containerfile"))
    )


def is_iac_file(name: str, suffixes: tuple[str, ...]) -> bool:
    if name in NOT_TEMPLATES:
        return False
    return is_dockerfile(name) or name.lower().endswith(suffixes)
