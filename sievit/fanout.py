"""Fan the image loops (`eval`, `verify`, `csim`, `cosim`, `bench pareto`) out over Dask
distributed workers, or run them in this process.

A loop is cut into contiguous chunks (`spans`); a picklable chunk function turns one chunk
into a partial result; `Pool.map` runs the chunks (in this process, on a local cluster of N
worker processes, or on the workers of a running scheduler) and returns the partial results
in chunk order, whatever order they finished in. Each caller merges them the same way in
every case, and no result depends on where a chunk ran or where the chunk boundaries fall,
so a fanned-out run writes the same JSON as a single-process one (wall times aside).

Errors keep their meaning: a SievitError raised on a worker is raised here again with its
class, message and exit code (2 bad input, 1 check failed, 3 tool missing), not as a Dask
traceback. A scheduler that cannot be reached is bad input (exit 2), reported before any
work starts."""
from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sievit.errors import CheckFailed, SievitError, ToolMissing

DASK_PIN = "dask[distributed]==2026.8.0"


@dataclass(frozen=True)
class Where:
    """Where chunks run: `jobs` = 1 and no scheduler: in this process; `jobs` = N > 1: a local
    cluster of N single-threaded worker processes; `scheduler`: the workers of the Dask
    scheduler at that address (`jobs` is then not used)."""
    jobs: int = 1
    scheduler: str | None = None

    @property
    def distributed(self) -> bool:
        return self.scheduler is not None or self.jobs > 1


def spans(n: int, size: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges of at most `size` items covering 0..n."""
    size = max(1, size)
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous ranges of near-equal size covering 0..n (fewer when n < parts)."""
    parts = max(1, min(parts, n))
    bounds = [n * k // parts for k in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def chunk_size(n: int, workers: int, cap: int) -> int:
    """Images per chunk: at most `cap` (a loop's batch), and small enough that every worker
    gets one chunk at least."""
    return max(1, min(cap, math.ceil(n / max(1, workers))))


# Per-process cache of loaded state (checkpoints, golden models): a worker loads a checkpoint
# once and keeps it for the later chunks it runs.
_CACHE: dict[tuple, Any] = {}


def file_key(path: Path | str) -> tuple:
    """A cache key that changes when the files directly inside `path` change."""
    p = Path(path).resolve()
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    return (str(p), tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size)
                          for f in files if f.is_file()))


def cached(key: tuple, load: Callable[[], Any]) -> Any:
    """`load()` once per process and key."""
    if key not in _CACHE:
        _CACHE[key] = load()
    return _CACHE[key]


@dataclass
class _Raised:
    """A SievitError raised on a worker, carried back as a value: pickling the exception
    itself would lose its exit code (Exception pickles only its args)."""
    cls: type
    message: str
    code: int


def _guarded(fn: Callable, *args: Any) -> Any:
    try:
        return fn(*args)
    except SievitError as exc:
        return _Raised(type(exc), str(exc), exc.code)


def _reraise(r: _Raised) -> None:
    exc = r.cls.__new__(r.cls)
    Exception.__init__(exc, r.message)
    exc.code = r.code
    raise exc


class Pool:
    """Runs chunk functions; see `open_pool`."""

    def __init__(self, where: Where, client: Any = None, threads: int = 1):
        self.where, self.client, self.threads = where, client, threads

    @property
    def workers(self) -> int:
        """How many chunks run at once (1 in this process)."""
        if self.client is None:
            return 1
        return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def map(self, fn: Callable, tasks: Sequence[tuple], desc: str,
            sizes: Sequence[int] | None = None, threads: int = 1) -> list:
        """[fn(*task) for task in tasks], in task order. `sizes`: items (images) per task for
        the progress bar. In this process the tasks run one after another, or on `threads`
        threads (for chunk functions that wait on a subprocess)."""
        sizes = list(sizes) if sizes is not None else [1] * len(tasks)
        with tqdm(total=sum(sizes), desc=desc, file=sys.stderr, mininterval=1.0) as bar:
            if self.client is None:
                return self._local(fn, tasks, sizes, bar, threads)
            return self._remote(fn, tasks, sizes, bar)

    @staticmethod
    def _local(fn, tasks, sizes, bar, threads: int) -> list:
        if threads <= 1 or len(tasks) <= 1:
            out = []
            for task, n in zip(tasks, sizes):
                out.append(fn(*task))
                bar.update(n)
            return out
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(threads, len(tasks))) as ex:
            futures = [ex.submit(fn, *task) for task in tasks]
            for f, n in zip(futures, sizes):
                f.result()
                bar.update(n)
            return [f.result() for f in futures]

    def _remote(self, fn, tasks, sizes, bar) -> list:
        from distributed import KilledWorker, as_completed
        futures = [self.client.submit(_guarded, fn, *task, pure=False) for task in tasks]
        index = {f.key: k for k, f in enumerate(futures)}
        results: list = [None] * len(tasks)
        try:
            for f in as_completed(futures, loop=self.client.loop):
                try:
                    r = f.result()
                except KilledWorker as exc:
                    raise CheckFailed(f"a Dask worker died while running {fn.__name__} "
                                      f"({exc})") from None
                if isinstance(r, _Raised):
                    _reraise(r)
                k = index[f.key]
                results[k] = r
                bar.update(sizes[k])
        finally:
            self.client.cancel([f for f in futures if not f.done()])
        return results


def _dask():
    try:
        import distributed
    except ImportError:
        raise ToolMissing(f"Dask distributed is not installed: pip install '{DASK_PIN}' "
                          "(bash scripts/setup.sh installs it)") from None
    return distributed


def connect(scheduler: str) -> Any:
    """A Client of the scheduler at `scheduler`, or SievitError (exit 2) naming the address.
    The connect timeout is Dask's `distributed.comm.timeouts.connect` (30 s unless set, e.g.
    DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s)."""
    distributed = _dask()
    try:
        return distributed.Client(scheduler, set_as_default=False)
    except (OSError, ValueError, TypeError) as exc:  # refused, timed out, unknown host / scheme
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SievitError(f"--scheduler {scheduler}: no Dask scheduler could be reached there "
                          f"({reason}); start one with `dask scheduler` and workers with "
                          f"`dask worker ADDRESS`, or leave --scheduler out to run locally") \
            from None


@contextmanager
def open_pool(where: Where) -> Iterator[Pool]:
    """A Pool for `where`: in this process, a local cluster of `where.jobs` worker processes
    (one thread each; closed on exit), or a client of `where.scheduler`."""
    if not where.distributed:
        yield Pool(where)
        return
    if where.scheduler is not None:
        client = connect(where.scheduler)
        try:
            yield Pool(where, client)
        finally:
            client.close()
        return
    distributed = _dask()
    # the workers inherit this environment: the output directory, the data set folder
    cluster = distributed.LocalCluster(n_workers=where.jobs, threads_per_worker=1,
                                       processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield Pool(where, client)
    finally:
        client.close()
        cluster.close()


def where_from(args: Any, default_jobs: int = 1) -> Where:
    """The Where of a command's --jobs and --scheduler options."""
    return Where(jobs=getattr(args, "jobs", None) or default_jobs,
                 scheduler=getattr(args, "scheduler", None))


def absolute(path: Path | str) -> str:
    """A path workers can open whatever their working directory (same filesystem)."""
    return os.fspath(Path(path).resolve())
