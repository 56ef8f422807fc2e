"""Write an output directory all at once: fill a temporary sibling, then rename it into place,
so a failure never leaves a half-written directory behind."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_dir(out_dir: Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes `out_dir` when the block succeeds."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
        if replace and out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def move_files(files: list[Path], out_dir: Path) -> None:
    """Move finished files into `out_dir` (created if missing), each by an atomic rename of
    a temporary sibling, so a reader never sees half a file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for src in files:
        tmp = out_dir / f".{src.name}.tmp"
        shutil.copyfile(src, tmp)
        os.replace(tmp, out_dir / src.name)
