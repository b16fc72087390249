"""mmuspec: an executable specification of the Linux MMU-notifier protocol."""

__version__ = "0.1.0"
