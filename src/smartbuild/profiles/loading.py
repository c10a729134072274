"""Find and load profiles: files, shipped profiles by name, site-local profile directories."""

from __future__ import annotations

import hashlib
from pathlib import Path

from smartbuild.errors import UsageError
from smartbuild.profiles.schema import Profile

LIBRARY = Path(__file__).parent / "library"


def shipped_profiles() -> list[Path]:
    """Return the profiles shipped with smartbuild."""
    return sorted(LIBRARY.glob("*.yaml"))


def resolve_profile(ref: str, extra_dirs: list[Path] | None = None) -> Path:
    """Return the file of a profile given as a path or as the name of a shipped/site profile."""
    path = Path(ref)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in ref:
        return path
    for directory in [*(extra_dirs or []), LIBRARY]:
        for suffix in (".yaml", ".yml"):
            candidate = directory / f"{ref}{suffix}"
            if candidate.exists():
                return candidate
    from smartbuild.suggest import did_you_mean

    names = [p.stem for p in shipped_profiles()]
    raise UsageError(
        f"no profile file or shipped profile named {ref!r}.{did_you_mean(ref, names)}",
        hint="`smartbuild profile list` shows the shipped and site profiles",
    )


def load_profile(path: str | Path) -> Profile:
    """Load and validate a profile file with file:line:col errors."""
    from smartbuild.config.locate import load_model

    profile, _doc = load_model(Profile, str(path))
    return profile


def file_sha256(path: Path) -> str:
    """Return the sha256 of a profile file (recorded in the journal with each run)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
