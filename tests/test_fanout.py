"""The image loops fanned out over Dask distributed (sievit/fanout.py): `eval`, `verify`,
`csim`, `cosim` and `bench pareto` on a local cluster of 2 worker processes write the same
JSON as the single-process run (wall times and the worker count aside); errors raised on a
worker keep their exit code; an unreachable --scheduler is bad input (exit 2) and writes
nothing."""
from __future__ import annotations

import json
import logging
import operator
from pathlib import Path

import pytest

from sievit import fanout
from sievit.cli import main
from sievit.errors import CheckFailed, SievitError

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "checkpoints" / "fmnist_heatvit"
# what may differ between a single-process and a fanned-out run: timings, the worker count
TIMING = {"wall_s", "csim_wall_s", "golden_s", "ms_per_image", "compile_s", "build_s",
          "wall_s_per_image", "process_s_per_image", "jobs", "scheduler"}


def _strip(d):
    if isinstance(d, dict):
        return {k: _strip(v) for k, v in d.items() if k not in TIMING}
    if isinstance(d, list):
        return [_strip(v) for v in d]
    return d


@pytest.fixture(scope="module")
def scheduler():
    """A local Dask cluster of 2 single-threaded worker processes, shared by the tests of
    this module (its workers keep the checkpoints they loaded)."""
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def _run(capsys, argv: list[str]) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _same_both_ways(capsys, argv: list[str], scheduler: str) -> dict:
    code1, single = _run(capsys, argv)
    code2, fanned = _run(capsys, [*argv, "--scheduler", scheduler])
    assert code1 == code2 == 0, (single, fanned)
    assert _strip(fanned) == _strip(single)
    return single


def test_eval_and_verify_equal_single_process(capsys, scheduler):
    out = _same_both_ways(capsys, ["eval", "--ckpt", str(CKPT), "--images", "6"], scheduler)
    assert out["images"] == 6 and out["saturation"]["none"]["elements"] > 0
    out = _same_both_ways(capsys, ["verify", "golden", "--ckpt", str(CKPT), "--images", "6"],
                          scheduler)
    assert out["images"] == 6 and out["mismatches"] == 0


def test_csim_equal_single_process(capsys, scheduler, tmp_path):
    from sievit.hls.project import export_hls
    prj = tmp_path / "prj"
    export_hls(CKPT / "bundle", prj)
    out = _same_both_ways(capsys, ["csim", str(prj), "--images", "4"], scheduler)
    assert out["images"] == 4 and out["mismatches"] == 0
    assert set(out["modes"]) == {"none", "threshold"}


def test_cosim_equal_single_process(capsys, scheduler):
    """Two images, one per worker: cycles and results do not depend on the split."""
    out = _same_both_ways(capsys, ["cosim", "--bundle", str(CKPT / "bundle"), "--images", "2",
                                   "--modes", "threshold"], scheduler)
    assert out["images"] == 2 and out["mismatches"] == 0
    assert out["modes"]["threshold"]["cycles_per_image"] > 0


def test_worker_error_keeps_its_exit_code(capsys, scheduler):
    """A check that fails inside a worker (the watchdog) is exit 1 with its own message."""
    code, out = _run(capsys, ["cosim", "--bundle", str(CKPT / "bundle"), "--images", "2",
                              "--modes", "none", "--watchdog-cycles", "20000",
                              "--scheduler", scheduler])
    assert code == 1
    assert out["error"].startswith("watchdog: image 0 produced no result within"), out


def test_pareto_rows_equal_single_process(scheduler, tmp_path):
    """bench pareto's points as chunks on the cluster: the same rows and table (the plots
    drawn from them are tested in test_methods.py)."""
    from sievit.pareto import pareto_rows, pareto_work, write_table
    work = pareto_work(["tome"], 20)
    with fanout.open_pool(fanout.Where()) as pool:
        single = pareto_rows(work, pool)
    with fanout.open_pool(fanout.Where(scheduler=scheduler)) as pool:
        assert pool.workers == 2
        fanned = pareto_rows(work, pool)
    assert fanned == single
    assert [r["method"] for r in single] == ["dense"] + ["tome"] * (len(work) - 1)
    assert single[0]["mac_reduction"] == 0 and all(r["mac_reduction"] > 0 for r in single[1:])
    write_table(single, tmp_path / "a.md", 20)
    write_table(fanned, tmp_path / "b.md", 20)
    assert (tmp_path / "a.md").read_text() == (tmp_path / "b.md").read_text()


def test_local_cluster_orders_results_and_keeps_error_classes():
    """--jobs 2 starts its own local cluster: results in task order; a SievitError raised
    on a worker comes back with its class, message and exit code."""
    from sievit.hls.csim import check_project, run_testbench
    where = fanout.Where(jobs=2)
    with fanout.open_pool(where) as pool:
        assert pool.workers == 2
        tasks = [(k, 10 * k) for k in range(7)]
        assert pool.map(operator.add, tasks, "add") == [11 * k for k in range(7)]
        with pytest.raises(SievitError, match="is not a sievit HLS project") as bad:
            pool.map(check_project, [(Path("/nonexistent/prj"),)], "check")
        assert type(bad.value) is SievitError and bad.value.code == 2
        with pytest.raises(CheckFailed, match=r"testbench sh failed \(exit 7\)") as failed:
            pool.map(run_testbench, [(["sh", "-c", "exit 7"],)], "tb")
        assert failed.value.code == 1


def test_spans_cover_the_images_in_order():
    for n, size in [(1, 250), (6, 3), (10, 4), (1000, 250), (7, 1)]:
        s = fanout.spans(n, size)
        assert [i for a, b in s for i in range(a, b)] == list(range(n))
        assert all(0 < b - a <= size for a, b in s)
    for n, parts in [(2, 2), (5, 2), (3, 8), (100, 16)]:
        s = fanout.split(n, parts)
        assert [i for a, b in s for i in range(a, b)] == list(range(n))
        assert len(s) == min(n, parts) and max(b - a for a, b in s) - min(b - a for a, b in s) <= 1


@pytest.mark.parametrize("argv", [
    ["eval", "--ckpt", str(CKPT), "--images", "2"],
    ["bench", "pareto", "--methods", "tome", "--images", "2"],
])
def test_unreachable_scheduler_is_bad_input(capsys, tmp_path, argv):
    import dask
    out_dir = tmp_path / "out"
    extra = ["--out", str(out_dir)] if argv[0] == "bench" else []
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code = main([*argv, *extra, "--scheduler", "tcp://127.0.0.1:1", "--json"])
    cap = capsys.readouterr()
    assert code == 2
    err = json.loads(cap.out)
    assert err["exit_code"] == 2
    assert err["error"].startswith("--scheduler tcp://127.0.0.1:1: no Dask scheduler could be "
                                   "reached there"), err
    assert "Traceback" not in cap.err
    assert not out_dir.exists()  # nothing written
