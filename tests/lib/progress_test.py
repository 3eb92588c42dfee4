"""lib.progress: tqdm bars on standard error, drawn only on a terminal at INFO level or below."""
from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from unittest import mock

from lib.progress import progress, progress_shown


class Terminal(io.StringIO):
    """A captured standard error that says it is a terminal (tqdm then draws its bars)."""

    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return True


@contextlib.contextmanager
def on_terminal(level: int = logging.INFO) -> Iterator[Terminal]:
    """Standard error replaced by a :class:`Terminal` and the root log level set to ``level``
    (within a test's body: pytest puts its own standard error back between a test's phases)."""
    stream = Terminal()
    root = logging.getLogger()
    previous = root.level
    root.setLevel(level)
    try:
        with mock.patch.object(sys, "stderr", stream):
            yield stream
    finally:
        root.setLevel(previous)


def test_drawn_on_a_terminal_at_info() -> None:
    with on_terminal() as terminal:
        assert progress_shown()
        with progress(total=3, desc="Counting", unit="step", mininterval=0) as bar:
            for _ in range(3):
                bar.update()
    text = terminal.getvalue()
    assert "Counting" in text and "3/3" in text and "step" in text


def test_hidden_when_quiet() -> None:
    with on_terminal(logging.WARNING) as terminal:
        assert not progress_shown()
        for _ in progress(range(3), desc="Counting"):
            pass
    assert terminal.getvalue() == ""


def test_hidden_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with on_terminal(), mock.patch.object(sys, "stderr", stream):
        assert not progress_shown()
        assert list(progress(range(3), desc="Counting")) == [0, 1, 2]  # items pass through
    assert stream.getvalue() == ""
    closed = Terminal()
    closed.close()
    assert not progress_shown(closed)
