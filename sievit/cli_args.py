"""argparse type functions: every numeric option of `sievit` is checked at parse time, and a
bad value is refused (exit 2) with a message naming the option and its allowed range."""
from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

# Vendor part numbers: xczu9eg-ffvb1156-2-e, xcu250-figd2104-2L-e, xc7z020clg400-1, xck26-...
PART_RE = re.compile(r"^x[acq][a-z0-9]+(-[a-z0-9]+){0,4}$", re.IGNORECASE)


def int_in(name: str, lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An integer in lo..hi (hi None: no upper bound)."""
    span = f"{lo}..{hi}" if hi is not None else f">= {lo}"

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer {span}, got {value!r}") from None
        if n < lo or (hi is not None and n > hi):
            raise argparse.ArgumentTypeError(f"{name} must be an integer {span}, got {n}")
        return n

    parse.__name__ = name  # argparse names the type in its own messages
    return parse


def float_in(name: str, lo: float, hi: float, lo_open: bool = False) -> Callable[[str], float]:
    """A finite float in [lo, hi] (or (lo, hi] with lo_open)."""
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number in {span}, got {value!r}") from None
        if not math.isfinite(x) or x > hi or x < lo or (lo_open and x == lo):
            raise argparse.ArgumentTypeError(f"{name} must be a number in {span}, got {value}")
        return x

    parse.__name__ = name
    return parse


def images(name: str = "--images", allow_zero: bool = False) -> Callable[[str], int | str | None]:
    """A count of test images or 'all' (None, or 'all' where zero is allowed: `csim`)."""
    lo = 0 if allow_zero else 1
    count = int_in(name, lo, 10_000)

    def parse(value: str) -> int | str | None:
        if value == "all":
            return "all" if allow_zero else None
        try:
            return count(value)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{name} must be an integer {lo}..10000 or 'all', got {value!r}") from None

    parse.__name__ = name
    return parse


def budget(value: str) -> list[int]:
    """A top-k budget: comma-separated token counts per stage, each >= 2, e.g. 25,13."""
    parts = value.split(",")
    try:
        tokens = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--budgets entries must be comma-separated integers (tokens after each stage, "
            f"e.g. 25,13), got {value!r}") from None
    if any(t < 2 for t in tokens):
        raise argparse.ArgumentTypeError(
            f"--budgets token counts must be >= 2 (CLS + package token), got {value!r}")
    if any(b > a for a, b in zip(tokens, tokens[1:])):
        raise argparse.ArgumentTypeError(f"--budgets token counts must not grow from stage to "
                                         f"stage, got {value!r}")
    return tokens


budget.__name__ = "--budgets"


def part(value: str) -> str:
    """An AMD/Xilinx part number such as xczu9eg-ffvb1156-2-e."""
    if not PART_RE.match(value):
        raise argparse.ArgumentTypeError(
            f"--part must be an AMD/Xilinx part number such as xczu9eg-ffvb1156-2-e "
            f"(x[c|a|q]<device>-<package>-<speed>[-<grade>]), got {value!r}")
    return value


part.__name__ = "--part"


def lanes(value: str) -> int:
    """MAC lanes per linear engine: a power of two 1..64."""
    n = int_in("--lanes", 1, 64)(value)
    if n & (n - 1):
        raise argparse.ArgumentTypeError(f"--lanes must be a power of two in 1..64, got {n}")
    return n


lanes.__name__ = "--lanes"


def scheduler(value: str) -> str:
    """A Dask scheduler address: tcp://HOST:PORT (or HOST:PORT, or a scheduler file's
    address); reachability is checked when the command starts."""
    if not value.strip() or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError(f"--scheduler must be an address such as "
                                         f"tcp://10.0.0.5:8786, got {value!r}")
    return value


scheduler.__name__ = "--scheduler"


def fanout_options(p: argparse.ArgumentParser, jobs: int = 1, what: str = "",
                   local: str = "in this process") -> None:
    """--jobs N and --scheduler ADDRESS: where the command's image chunks run
    (sievit.fanout)."""
    p.add_argument("--jobs", type=int_in("--jobs", 1, 64), default=jobs,
                   help=f"{what}1: run {local}; N > 1: a local Dask cluster of N worker "
                        "processes (same results)")
    p.add_argument("--scheduler", type=scheduler, default=None, metavar="ADDRESS",
                   help=f"{what}run on the workers of the Dask scheduler at ADDRESS "
                        "(e.g. tcp://10.0.0.5:8786; --jobs is then not used; the workers "
                        "need sievit and the same files at the same paths)")
