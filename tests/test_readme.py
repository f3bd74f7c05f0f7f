"""Every example in the README runs as shown, and prints what it shows.

Each fenced block is preceded by an HTML comment that says how it is checked:

- ``<!-- check: python -->``: run as a script, in a scratch folder holding
  every ``file`` block; it must exit 0 (its own ``assert`` lines are the checks).
- ``<!-- check: file NAME -->``: saved as ``NAME`` in the scratch folder where
  the shell sessions run, for them to use.
- ``<!-- check: shell -->``: a terminal session. ``$ command`` lines (a
  trailing ``\\`` continues one) run with bash in a scratch folder holding
  every ``file`` block; the lines after a command are what it prints (stdout
  and stderr together), compared line by line. ``...`` stands for any text
  within a line, and a line of its own ``...`` for any number of lines.
- ``<!-- check: in .ci/run -->``: CI runs each of these commands (split at
  ``&&``, ``.venv/bin/`` dropped): each one's words must appear in this order
  in a line of ``.ci/run`` (which may add options).
- ``<!-- check: part of PATH -->``: the block is a part of that file, verbatim.
- ``<!-- check: skip: REASON -->``: not run, for the reason given.

A block without a comment fails the test, so none can be added unchecked.
Before comparing, both sides lose what legitimately changes from one run or
machine to the next (``_VARIES``): addresses, timings, the folders packages
live in, and counts that depend on thread scheduling or the Python version.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent

_BLOCK = re.compile(
    r"(?:<!-- check: (?P<how>.*?) -->\n)?^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.DOTALL | re.MULTILINE
)
BLOCKS = [(m["how"], m["lang"], m["body"], README.count("\n", 0, m.start()) + 1) for m in _BLOCK.finditer(README)]


def _of_kind(kind: str) -> list[tuple[str, str, int]]:
    """``(argument, body, line)`` of each block whose comment starts with ``kind``."""
    return [(how[len(kind) :].strip(), body, line) for how, _, body, line in BLOCKS if how and how.startswith(kind)]


def _cases(kind: str, *, argument: bool = False) -> list[object]:
    """Parameters for the blocks of one kind, each named by its line in README.md."""
    return [
        pytest.param(*((arg,) if argument else ()), body, line, id=f"README.md:{line}")
        for arg, body, line in _of_kind(kind)
    ]


#: What differs between two honest runs, replaced on both sides before comparing.
_VARIES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"0x[0-9a-f]+"), "0x?"),  # addresses
    (re.compile(r"\d+\.\d+s\b"), "?s"),  # timings: (0.31s), in 1.4s
    (re.compile(r"(?:/[^\s()/:]+)+/(lifecycle|router_demo|leakcheck)/"), r"\1/"),  # where the packages are installed
    (re.compile(r"ok=\d+ failed=\d+"), "ok=? failed=?"),  # requests served: thread scheduling
    (re.compile(r"memory per reload +[+-]?\d+ bytes"), "memory per reload ? bytes"),  # traced memory
    (re.compile(r"events before \d+, after \d+"), "events before ?, after ?"),  # requests again
    # interpreter internals, which differ between Python versions
    (re.compile(r"(gc-tracked objects|traced memory|Python memory blocks) .*"), r"\1 ?"),
    (re.compile(r"^(\s*)(?:LEAK |     )(?=(?:gc-tracked objects|traced memory|Python memory blocks) \?)"), r"\1?    "),
]


def normalise(line: str, scratch: Path) -> str:
    line = line.rstrip().replace(f"{scratch}/", "")
    for pattern, replacement in _VARIES:
        line = pattern.sub(replacement, line)
    return line


def matches(shown: Sequence[str], printed: Sequence[str]) -> bool:
    """Whether ``printed`` is ``shown`` with each ``...`` standing for any text (a lone ``...``: any lines)."""
    patterns = [
        None if line.strip() == "..." else re.compile(".*".join(map(re.escape, line.split("...")))) for line in shown
    ]

    def from_here(i: int, j: int) -> bool:
        if i == len(patterns):
            return j == len(printed)
        pattern = patterns[i]
        if pattern is None:
            return any(from_here(i + 1, k) for k in range(j, len(printed) + 1))
        return j < len(printed) and pattern.fullmatch(printed[j]) is not None and from_here(i + 1, j + 1)

    return from_here(0, 0)


def session(body: str) -> list[tuple[str, list[str]]]:
    """``(command, lines shown after it)`` for each ``$`` command of a shell block."""
    steps: list[tuple[str, list[str]]] = []
    continued = False
    for line in body.splitlines():
        if continued:
            steps[-1] = (steps[-1][0] + "\n" + line, steps[-1][1])
        elif line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line)
        continued = line.endswith("\\") and not steps[-1][1]
    return steps


def test_every_block_says_how_it_is_checked() -> None:
    unmarked = [line for how, _, _, line in BLOCKS if not how]
    assert unmarked == [], f"README.md blocks without a '<!-- check: ... -->' comment, at lines {unmarked}"
    kinds = {how.split()[0].rstrip(":") for how, _, _, _ in BLOCKS if how}
    assert kinds <= {"python", "file", "shell", "in", "part", "skip"}, kinds
    assert len(_of_kind("python")) >= 3 and len(_of_kind("shell")) >= 3


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A folder holding every ``file`` block of the README."""
    for name, body, _ in _of_kind("file"):
        (tmp_path / name).write_text(body)
    return tmp_path


@pytest.mark.parametrize(("body", "line"), _cases("python"))
def test_python_example_runs(body: str, line: int, scratch: Path) -> None:
    script = scratch / "readme_example.py"
    script.write_text(body)
    env = {**os.environ, "ROUTER_DEMO_JSONL": str(scratch / "events.jsonl")}
    result = subprocess.run([sys.executable, str(script)], cwd=scratch, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, f"README.md line {line}:\n{result.stderr}"


@pytest.mark.skipif(not (BIN / "leakcheck").exists(), reason="needs the project installed (pip install -e .)")
@pytest.mark.parametrize(("body", "line"), _cases("shell"))
def test_shell_session_prints_what_it_shows(body: str, line: int, scratch: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ROUTER_DEMO_JSONL": str(scratch / "events.jsonl"),
        "COLUMNS": "80",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleaved as on a terminal
    }
    env.pop("PYTHONPATH", None)
    for command, shown in session(body):
        result = subprocess.run(["bash", "-c", command], cwd=scratch, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=120)  # fmt: skip
        printed = [normalise(text, scratch) for text in result.stdout.splitlines()]
        expected = [normalise(text, scratch) for text in shown]
        assert matches(expected, printed), (
            f"README.md line {line}: `{command}` printed (normalised):\n"
            + "\n".join(printed)
            + "\n\nwhere the README shows (normalised):\n"
            + "\n".join(expected)
        )


def _in_order(words: Sequence[str], line: Sequence[str]) -> bool:
    remaining = iter(line)
    return all(word in remaining for word in words)


@pytest.mark.parametrize(("body", "line"), _cases("in .ci/run"))
def test_commands_that_ci_runs_are_in_ci_run(body: str, line: int) -> None:
    ci = [shlex.split(text, comments=True) for text in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [shlex.split(part.strip().removeprefix(".venv/bin/"), comments=True)
                for text in body.splitlines() for part in text.split("&&")]  # fmt: skip
    missing = [" ".join(words) for words in commands if words and not any(_in_order(words, each) for each in ci)]
    assert missing == [], f"README.md line {line}: not in .ci/run: {missing}"


@pytest.mark.parametrize(("path", "body", "line"), _cases("part of", argument=True))
def test_copied_blocks_are_part_of_the_file_they_copy(path: str, body: str, line: int) -> None:
    assert body in (ROOT / path).read_text(), f"README.md line {line} is not a part of {path}"


def test_skipped_blocks_say_why() -> None:
    assert all(reason for reason, _, _ in _of_kind("skip:"))


@pytest.mark.parametrize(
    ("shown", "printed", "expected"),
    [
        (["a", "b"], ["a", "b"], True),
        (["a", "b"], ["a", "c"], False),
        (["a"], ["a", "b"], False),
        (["a", "..."], ["a", "b", "c"], True),
        (["...", "c"], ["a", "b", "c"], True),
        (["a", "...", "c"], ["a", "c"], True),
        (["x ... z"], ["x y z"], True),
        (["x ... z"], ["x y"], False),
        (["a.b"], ["aXb"], False),
    ],
)
def test_the_comparison_itself(shown: list[str], printed: list[str], expected: bool) -> None:
    assert matches(shown, printed) is expected
