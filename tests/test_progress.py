from __future__ import annotations

import io

from leakcheck.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_draws_on_a_terminal_and_ends_its_line() -> None:
    stream = Terminal()
    with ProgressBar("reloading", stream=stream) as bar:
        bar(1, 4)
        bar(4, 4)
    text = stream.getvalue()
    assert text.startswith("\rreloading [") and "] 4/4" in text and text.endswith("\n")
    assert "#" * 30 in text  # full at the end


def test_the_bar_is_silent_when_output_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressBar("reloading", stream=stream) as bar:
        bar(1, 2)
        bar(2, 2)
    assert stream.getvalue() == ""
