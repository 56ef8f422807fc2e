"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class SievitError(Exception):
    """A user-facing error: bad input, a missing file or tool. The message names the problem."""
