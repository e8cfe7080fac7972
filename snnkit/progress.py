"""Progress bars for every long loop in snnkit: live tqdm bars on a terminal, whole lines in a log.

tqdm redraws its bar with ``'\\r'`` many times a second; written to a file or a pipe
(``snnkit train ... 2> log.txt``, CI, batch systems) that leaves thousands of partial
lines. :func:`progress` therefore draws a tqdm bar only when its stream is a terminal (or
a notebook); otherwise it prints one complete line at every quarter of the work and none
for transient bars (``leave=False``: their result is printed by the caller anyway).
"""
from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, Optional, TextIO

__all__ = ["progress", "write_line", "is_terminal", "LineProgress", "LOG_STEPS"]

LOG_STEPS = 4  # a bar written to a log prints a line at each 1/LOG_STEPS of its total


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal (a closed or odd stream counts as not one)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _notebook_tqdm() -> Optional[type]:
    """tqdm's notebook bar when running in Jupyter with widgets (stderr there is no terminal, yet bars work)."""
    if "ipykernel" not in sys.modules:
        return None
    from tqdm.auto import tqdm

    return tqdm if any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__) else None


class _NoBar:
    """The bar of a disabled (or silent) progress display: every method does nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


class LineProgress(_NoBar):
    """A tqdm stand-in for logs: ``desc: 50% (10/20 unit) 3.1s, key=value`` at each quarter, never ``'\\r'``.

    Without a total it prints one line when closed. Iterating it iterates the wrapped iterable once.
    """

    def __init__(self, iterable: Optional[Iterable[Any]] = None, *, total: Optional[int] = None, desc: str = "",
                 unit: str = "it", file: Optional[TextIO] = None, steps: int = LOG_STEPS) -> None:
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.file = file if file is not None else sys.stderr
        self.steps, self.n, self.printed_step, self.postfix = max(1, steps), 0, 0, ""
        self.start, self.closed = time.monotonic(), False

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in (() if self.iterable is None else self.iterable):  # bool() would call len()
                yield item
                self.update(1)
        finally:
            self.close()

    def set_postfix(self, **kw: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def _line(self) -> None:
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        pct = f"{100 * self.n // self.total:d}% " if self.total else ""
        post = f", {self.postfix}" if self.postfix else ""
        head = f"{self.desc}: " if self.desc else ""
        print(f"{head}{pct}({done} {self.unit}) {time.monotonic() - self.start:.1f}s{post}", file=self.file,
              flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.total:
            return
        step = min(self.steps, self.n * self.steps // self.total)
        if step > self.printed_step:
            self.printed_step = step
            self._line()

    def close(self) -> None:
        if not self.closed and not self.total and self.n:  # with a total, the last quarter's line said it all
            self._line()
        self.closed = True


def progress(iterable: Optional[Iterable[Any]] = None, *, total: Optional[int] = None, desc: str = "",
             enabled: bool = True, leave: bool = True, unit: str = "it", file: Optional[TextIO] = None) -> Any:
    """A progress bar over ``iterable`` (or, without one, a bar to ``update(n)`` and ``close()``) on ``file``
    (default stderr): tqdm on a terminal or in a notebook, :class:`LineProgress` lines in a log, nothing when
    not ``enabled`` or for a transient (``leave=False``) bar in a log.

    Iterating the result iterates ``iterable`` once (a ``DataLoader`` iterator draws a seed from the
    global RNG each time one is made, so a bar must not make an extra one). A disabled bar over an
    iterable is the iterable itself.
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:  # a DataLoader over an IterableDataset has __len__ but no length
            total = None
    stream = file if file is not None else sys.stderr
    live = _notebook_tqdm() if file is None else None
    if enabled and (live is not None or is_terminal(stream)):
        if live is None:
            from tqdm.std import tqdm as live
        it = None if iterable is None else (item for item in iterable)
        return live(it, total=total, desc=desc, leave=leave, unit=unit, dynamic_ncols=True, file=file)
    if not enabled or not leave:
        return _NoBar() if iterable is None else iterable
    return LineProgress(iterable, total=total, desc=desc, unit=unit, file=stream)


def write_line(line: str) -> None:
    """Print ``line`` to stdout above any live progress bar (tqdm.write keeps the bars intact)."""
    from tqdm.std import tqdm

    tqdm.write(line)
