"""SIGTERM and Ctrl-C during a command that runs a sweep: both end it as a KeyboardInterrupt, and both are remembered,
so that main reports an error that a stop became on its way up as the stop it was (exit 130)."""

import contextlib
import signal
import threading

STOPPED = threading.Event()  # Ctrl-C or SIGTERM arrived during the command (sigterm_as_ctrl_c)


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """SIGTERM (`kill PID`, a container's or a scheduler's stop) ends the command as Ctrl-C does while this lasts: a
    KeyboardInterrupt, so every `finally` runs, nothing is left half-written, and
    tuning.cli.commands.main says so and exits 130.

    For the whole of `tuning run`, `resume` and `confirm`: reading the sweep, starting Ray (tuner.start_ray puts
    this back over the handlers Ray sets), preparing the data; Tune's fit then asks for its clean stop
    (tuner._StopOnSignal). Both signals are remembered (STOPPED): an error that a KeyboardInterrupt became on its
    way up (a user module's import stopped halfway is reported as that import's failure) is the stop all the same.
    Only in the main thread, and only where a signal has its default action: one ignored, or handled by a program
    that calls main, stays as it is."""
    STOPPED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    defaults = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
    previous = {sig: signal.signal(sig, ctrl_c) for sig, dflt in defaults.items() if signal.getsignal(sig) == dflt}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def ctrl_c(signum, frame):
    """The handler sigterm_as_ctrl_c sets: remember the stop, end the command as Ctrl-C does."""
    STOPPED.set()
    raise KeyboardInterrupt
