"""Build the optional C accelerator, ``lifecycle._speedups``; everything else is in pyproject.toml.

- A failed compile leaves the pure-Python package (``optional=True``), unless
  ``LIFECYCLE_REQUIRE_EXTENSION=1`` (CI, wheel builds) makes it an error.
- ``LIFECYCLE_PURE_PYTHON=1`` skips the build; so does any interpreter but CPython.
"""

from __future__ import annotations

import os
import platform

from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def extensions() -> list[Extension]:
    if _flag("LIFECYCLE_PURE_PYTHON") or platform.python_implementation() != "CPython":
        return []
    return [
        Extension(
            "lifecycle._speedups",
            sources=["lifecycle/_speedups.c"],
            optional=not _flag("LIFECYCLE_REQUIRE_EXTENSION"),
        )
    ]


setup(ext_modules=extensions())
