"""Back-reference graphs of leaked objects: DOT always, SVG when Graphviz's ``dot`` exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import objgraph


def write_graph(objects: Sequence[object], folder: str | Path, name: str, ignore: Sequence[object] = ()) -> list[str]:
    """Write ``name.dot`` (and ``name.svg`` with Graphviz) into ``folder``; the paths written."""
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    dot_path = directory / f"{stem}.dot"
    objgraph.show_backrefs(
        list(objects),
        max_depth=8,
        filename=str(dot_path),
        extra_ignore=[id(item) for item in ignore],
    )
    written = [str(dot_path)]
    dot = shutil.which("dot")
    if dot is not None:
        svg_path = directory / f"{stem}.svg"
        result = subprocess.run([dot, "-Tsvg", str(dot_path), "-o", str(svg_path)], capture_output=True, timeout=60)
        if result.returncode == 0:
            written.append(str(svg_path))
    return written
