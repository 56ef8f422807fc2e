"""The exit-code convention of every `sievit` command and the exceptions that carry it.

0 = ran and every check passed; 1 = ran and a check failed (mismatches, a failed build or
simulation of the design under test); 2 = usage error or bad input; 3 = a required external
tool is missing (Verilator, iverilog, g++, vitis_hls, yosys)."""
from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_TOOL_MISSING = 3


class SievitError(Exception):
    """A user-facing error: the message names the problem; `code` is the process exit status
    (bad input, 2, unless the raiser says otherwise)."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


class CheckFailed(SievitError):
    """The design under test failed: it did not compile, hung, or its results are wrong."""

    def __init__(self, message: str):
        super().__init__(message, code=EXIT_CHECK_FAILED)


class ToolMissing(SievitError):
    """A required external tool is not installed; the message says how to install it."""

    def __init__(self, message: str):
        super().__init__(message, code=EXIT_TOOL_MISSING)
