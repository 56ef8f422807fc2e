"""The AXI IP (rtl/sievit_axi.sv) under cocotb on Verilator with cocotbext-axi: the host
runtime (sievit/host.py) loads the memory image into an AxiRam, configures the registers
through an AxiLiteMaster and runs batches of real test images; logits and kept-token ids
must equal the golden model's (the check of `sievit cosim`), with every AXI channel paused
at random and read latency. Also: lint, the generated register package, soft reset."""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "checkpoints" / "fmnist_heatvit" / "bundle"
PERIOD_NS = 10
BASE = 0x10000          # memory image's bus address (MEM_BASE): not 0, so offsets are added


def axi_sources() -> list[Path]:
    from sievit.cosim import rtl_sources
    return [*rtl_sources(), ROOT / "rtl" / "sievit_regs_pkg.sv", ROOT / "rtl" / "sievit_axi.sv"]


def build(params: dict):
    """Build sievit_axi once per parameters and source text; returns the cocotb runner."""
    from cocotb_tools.runner import get_runner
    from filelock import FileLock
    from sievit.cosim import VERILATOR_ARGS, simulator_env, verilator_make_flags
    simulator_env("verilator")
    srcs = axi_sources()
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()
                         + b"".join(p.read_bytes() for p in srcs)).hexdigest()[:12]
    build_dir = ROOT / "build" / "axi" / key
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(build_dir) + ".lock"):
        stamp = build_dir / "built.ok"
        if not stamp.exists():
            shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True, exist_ok=True)
        # the build turns Verilator's blanket --public-flat-rw off (3x faster); only the
        # wrapper's ports, which cocotb drives and reads, are made public
        vlt = build_dir / "public_ports.vlt"
        vlt.write_text("`verilator_config\n" + "".join(
            f'public_flat_rw -module "sievit_axi" -var "{pat}"\n'
            for pat in ("aclk", "aresetn", "irq", "s_axi_ctrl_*", "m_axi_*")))
        runner = get_runner("verilator")
        with verilator_make_flags():
            runner.build(sources=srcs, hdl_toplevel="sievit_axi", build_dir=build_dir,
                         parameters=params, build_args=[*VERILATOR_ARGS, str(vlt)],
                         timescale=("1ns", "1ps"),
                         always=False, log_file=build_dir / "build.log")
        stamp.write_text(key)
    return runner


def _pause_generator(seed: int, pct: int):
    """A factory of pause generators for AxiRam: each channel its own random stream."""
    count = [0]

    def make():
        count[0] += 1
        rng = random.Random(seed * 100 + count[0])
        while True:
            yield rng.random() < pct / 100
    return make


# ---------------------------------------------------------------- cocotb side (simulator)
try:
    import cocotb
except ImportError:  # pragma: no cover - cocotb is in requirements.txt
    cocotb = None

if cocotb is not None and os.environ.get("SIEVIT_AXI_CFG"):
    @cocotb.test()
    async def axi_batches(dut):
        """Runs the batches of the JSON config named by SIEVIT_AXI_CFG; writes the results."""
        from cocotb.clock import Clock
        from cocotb.triggers import ClockCycles, RisingEdge
        from sievit import regmap as rm
        from sievit.host import CosimBus, Session, run_cosim, soft_reset_cosim, start_cosim
        from sievit.quant.bundle import load_bundle
        from sievit.rtl_program import PRESETS, Program
        cfg = json.loads(Path(os.environ["SIEVIT_AXI_CFG"]).read_text())
        session = Session(Program(load_bundle(Path(cfg["bundle"])), PRESETS[cfg["hw"]]))
        images = np.load(cfg["images"])
        Clock(dut.aclk, PERIOD_NS, "ns").start()
        dut.aresetn.value = 0
        bus = CosimBus(dut, cfg["mem_bytes"], PERIOD_NS, latency=cfg["latency"])
        await ClockCycles(dut.aclk, 10)
        dut.aresetn.value = 1
        await ClockCycles(dut.aclk, 5)
        out = []
        for k, b in enumerate(cfg["batches"]):
            if b["pause"] == "runs":
                bus.start_pause_runs(cfg["pause_pct"], seed=k)
            elif b["pause"] == "generator":
                bus.set_pause_generators(_pause_generator(k, cfg["pause_pct"]))
            if b.get("irq"):
                await bus.write(rm.OFFSET["CTRL"], 1 << rm.BIT["CTRL.IRQ_EN"])
            imgs = images[b["images"]]
            t0 = time.perf_counter()
            if b.get("reset_after"):
                # start a batch, stop it in the middle, then watch the bus stay quiet
                await start_cosim(bus, session, imgs, b["mode"], BASE)
                await ClockCycles(dut.aclk, b["reset_after"])
                busy = await bus.read(rm.OFFSET["STATUS"])
                st = await soft_reset_cosim(bus)
                quiet = 0
                for _ in range(2000):
                    await RisingEdge(dut.aclk)
                    quiet += int(dut.m_axi_arvalid.value) + int(dut.m_axi_awvalid.value) + \
                        int(dut.m_axi_wvalid.value)
                regs = {r.name: await bus.read(r.offset) for r in rm.REGISTERS}
                out.append({"status_before": busy, "status": st, "axi_valid_after": quiet,
                            "regs": regs})
            else:
                r = await run_cosim(bus, session, imgs, b["mode"], BASE)
                r["irq"] = int(dut.irq.value)
                out.append(r)
            out[-1]["wall_s"] = round(time.perf_counter() - t0, 2)
            bus.stop_pause_runs()
            bus.set_pause_generators(None)
        Path(cfg["out"]).write_text(json.dumps(out))


# ---------------------------------------------------------------- pytest side
def run_axi_sim(tmp: Path, batches: list[dict], params: dict | None = None, pause_pct: int = 25,
                latency: int = 16) -> tuple[list[dict], np.ndarray]:
    """Build (cached) and run the IP on the first test images; returns the batch records."""
    from sievit.data import first_test_images
    from sievit.rtl_program import PRESETS
    hw = PRESETS["fmnist"]
    prm = {k: v for k, v in hw.verilog().items() if k != "MEM_WORDS"}
    prm.update(params or {})
    runner = build(prm)
    n = 1 + max(i for b in batches for i in b["images"])
    images = first_test_images(n).images
    np.save(tmp / "images.npy", images)
    cfg = {"bundle": str(BUNDLE), "hw": "fmnist", "images": str(tmp / "images.npy"),
           "mem_bytes": 1 << 22, "latency": latency, "pause_pct": pause_pct,
           "batches": batches, "out": str(tmp / "out.json")}
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    runner.test(hdl_toplevel="sievit_axi", test_module="test_axi", test_dir=tmp,
                extra_env={"SIEVIT_AXI_CFG": str(tmp / "cfg.json"), "COCOTB_LOG_LEVEL": "WARNING",
                           "PYTHONPATH": os.pathsep.join([str(ROOT / "rtl_tests"), *sys.path])},
                results_xml=str(tmp / "results.xml"), log_file=tmp / "sim.log")
    xml = (tmp / "results.xml").read_text()
    assert "<failure" not in xml and (tmp / "out.json").exists(), (tmp / "sim.log").read_text()[-3000:]
    return json.loads((tmp / "out.json").read_text()), images


def _session_and_golden():
    from sievit.host import Session
    from sievit.quant.bundle import load_bundle
    from sievit.quant.golden import Golden
    from sievit.rtl_program import PRESETS, Program
    bundle = load_bundle(BUNDLE)
    return Session(Program(bundle, PRESETS["fmnist"])), Golden(bundle)


def test_whole_model_through_axi(tmp_path):
    """2 test images dense and threshold through the AXI IP, every AxiRam channel paused
    25 % of cycles (random runs of 1-16 cycles) and 16 cycles of read latency: logits and
    kept ids equal the golden model's. Before them a batch runs under AxiRam's own pause
    generators (one step per cycle, too slow for whole images) and is soft-reset in the
    middle: the bursts in flight drain, the bus goes quiet, the next batches are exact."""
    from sievit.cosim import PHASES, mismatches
    batches = [{"mode": "threshold", "images": [0], "pause": "generator", "reset_after": 30_000},
               {"mode": "none", "images": [0, 1], "pause": "runs"},
               {"mode": "threshold", "images": [0, 1], "pause": "runs", "irq": True}]
    out, images = run_axi_sim(tmp_path, batches)
    session, golden = _session_and_golden()

    reset = out[0]
    assert reset["status_before"] & 1, "the batch was not running when it was reset"
    assert reset["status"] == {"busy": False, "done": False, "error": False, "resetting": False}
    assert reset["axi_valid_after"] == 0
    assert reset["regs"]["IMAGES_DONE"] == 0
    assert reset["regs"]["PROG_ADDR"] == session.program.prog_addr["threshold"]  # kept

    for b, o in zip(batches[1:], out[1:]):
        imgs = images[b["images"]]
        lay = session.layout(len(imgs))
        res = session.parse_results(lay, bytes.fromhex(o["results_hex"]), b["mode"])
        bad = mismatches(res, golden.run(imgs, b["mode"]))
        assert not bad.any(), (b, bad)
        assert o["status"] == {"busy": False, "done": True, "error": False, "resetting": False}
        regs = o["regs"]
        assert regs["IMAGES_DONE"] == len(imgs)
        assert regs["CYCLES_TOTAL"] == res[-1]["cycles"]
        assert [regs[f"CYCLES_{p.upper()}"] for p in PHASES] == [res[-1]["phases"][p] for p in PHASES]
        batch_cycles = regs["BATCH_CYCLES_LO"] | regs["BATCH_CYCLES_HI"] << 32
        assert batch_cycles > sum(r["cycles"] for r in res)
        for r in res:
            assert sum(r["phases"].values()) == r["cycles"]
            assert (r["phases"]["pruning"] > 0) == (b["mode"] != "none")
        assert o["irq"] == int(bool(b.get("irq")))
