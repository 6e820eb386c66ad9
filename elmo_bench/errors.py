"""The one base of every error a user can cause and fix, and how entry points report errors.

Every error class of elmo-bench that describes bad input, a bad setting, a corrupted file or an
unreachable server derives from :class:`ElmoBenchError` (most also from ``ValueError`` or
``RuntimeError``, which callers and tests already catch). Entry points (``elmo-bench``,
``run_benchmarks.py``, every ``python -m elmo_bench...``) run their work through :func:`run_main`:
an :class:`ElmoBenchError` (or an ``OSError`` such as a missing file) becomes one line on stderr
and exit status 2; anything else is a bug and keeps its traceback, followed by a line that says so.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

BUG_REPORT_LINE = (
    "{prog}: internal error: this is a bug in elmo-bench, not in your input; please report it "
    "with the traceback above"
)


class ElmoBenchError(Exception):
    """An error in what the user gave (a file, a setting, an argument) or in their environment
    (a corrupted cache, an unreachable server); its message says what is wrong and where."""


USER_ERRORS: tuple[type[BaseException], ...] = (ElmoBenchError, OSError)
"""What an entry point reports as one line: our errors and the operating system's (a missing
file, a full disk, a permission)."""


def one_line(error: BaseException) -> str:
    """The error's message on one line (a multi-line message has its lines joined by ``; ``)."""
    text = str(error) or type(error).__name__
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def run_main(prog: str, work: Callable[[], int | None]) -> int:
    """Run ``work`` and return its exit status; report a user error as one line (status 2), a
    Ctrl-C as status 130, and anything else with its traceback and a bug line (status 1)."""
    try:
        return int(work() or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 (a bug: show everything, then say what it is)
        traceback.print_exc()
        print(BUG_REPORT_LINE.format(prog=prog), file=sys.stderr)
        return 1


class UsageError(ElmoBenchError, ValueError):
    """An argument or setting whose value cannot work; the message names it, the value found and
    what is expected."""
