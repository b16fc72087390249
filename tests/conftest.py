"""What the whole suite needs, however it was started."""

import signal


def pytest_configure(config: object) -> None:
    """A shell starts a background job (``make test &``, ``nohup``) with SIGINT ignored, and an
    ignored signal stays ignored across exec: the tests that press Ctrl-C, in this process or in
    a command they start, would wait for an interrupt that never comes.  Handled again here, it
    raises KeyboardInterrupt in this process, and a command started from it has the default
    (exec resets a handled signal)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
