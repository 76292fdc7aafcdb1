"""Telling the user's Ctrl-C apart from a failure, even where a library wraps the KeyboardInterrupt.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives, and some code converts what it
catches into its own error (an extension module's initialisation, a worker pool, a library's "any exception"
handler). The command would then report an interruption as "unexpected SomeError" and exit 1. While a command
runs, SIGINT is recorded before the usual KeyboardInterrupt is raised, so ``main`` can still answer "interrupted"
(exit 130).
"""

import contextlib
import signal
import threading
from collections.abc import Iterator


class InterruptWatch:
    """Whether SIGINT arrived while the watch was on."""

    def __init__(self):
        self.received = False

    def _on_sigint(self, signum, frame):
        self.received = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def watching_interrupts() -> Iterator[InterruptWatch]:
    """Record SIGINT for the duration (then restore the previous handler). Only Python's default handler is
    replaced: an ignored SIGINT (a background job) or a handler someone else installed stays as it is."""
    watch = InterruptWatch()
    in_main_thread = threading.current_thread() is threading.main_thread()  # signal.signal works there only
    if not in_main_thread or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield watch
        return
    signal.signal(signal.SIGINT, watch._on_sigint)
    try:
        yield watch
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
