"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class SievitError(Exception):
    """A user-facing error: bad input, a missing file or tool. The message names the problem;
    `code` is the process exit status (1, or 2 for a missing external tool)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code
