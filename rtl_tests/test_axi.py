"""The AXI IP (rtl/sievit_axi.sv) under cocotb on Verilator with cocotbext-axi: the host
runtime (rtl/host.py) loads the memory image into an AxiRam, configures the registers
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
BUNDLE = ROOT / "checkpoints" / "fmnist_heatvit_b40" / "bundle"  # deployed
PERIOD_NS = 10
BASE = 0x10000          # memory image's bus address (MEM_BASE): not 0, so offsets are added


def axi_sources() -> list[Path]:
    from sievit.rtl.ip_package import sources
    return sources()


def build(params: dict):
    """Build sievit_axi once per parameters and source text; returns the cocotb runner."""
    from cocotb_tools.runner import get_runner
    from filelock import FileLock
    from sievit.rtl.cosim import VERILATOR_ARGS, simulator_env, verilator_make_flags
    simulator_env("verilator")
    srcs = axi_sources()
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()
                         + b"".join(p.read_bytes() for p in srcs)).hexdigest()[:12]
    from sievit.paths import build_root
    build_dir = build_root("axi") / key
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


def _axi_params() -> list[str]:
    import re
    text = (ROOT / "rtl" / "sievit_axi.sv").read_text()
    return re.findall(r"parameter\s+int\s+(\w+)", text[:text.index(") (")])


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
        from sievit.rtl import regmap as rm
        from sievit.rtl.host import CosimBus, Session, run_cosim, soft_reset_cosim, start_cosim
        from sievit.quant.bundle import load_bundle
        from sievit.rtl.program import PRESETS, Program
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
    from sievit.rtl.program import PRESETS
    hw = PRESETS["fmnist"]
    prm = {k: v for k, v in hw.verilog().items() if k != "MEM_WORDS"}
    missing = sorted(set(prm) - set(_axi_params()))
    assert not missing, f"sievit_axi does not pass sievit_top's parameters {missing} through"
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
    from sievit.rtl.host import Session
    from sievit.quant.bundle import load_bundle
    from sievit.quant.golden import Golden
    from sievit.rtl.program import PRESETS, Program
    bundle = load_bundle(BUNDLE)
    return Session(Program(bundle, PRESETS["fmnist"])), Golden(bundle)


def test_whole_model_through_axi(tmp_path):
    """Test images (1 dense, 2 threshold) through the AXI IP, every AxiRam channel paused
    25 % of cycles (random runs of 1-16 cycles) and 16 cycles of read latency: logits and
    kept ids equal the golden model's. Before them a batch runs under AxiRam's own pause
    generators (one step per cycle, too slow for whole images) and is soft-reset in the
    middle: the bursts in flight drain, the bus goes quiet, the next batches are exact."""
    from sievit.rtl.cosim import PHASES, mismatches
    batches = [{"mode": "threshold", "images": [0], "pause": "generator", "reset_after": 30_000},
               {"mode": "none", "images": [1], "pause": "runs"},
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


def test_wide_bus_through_axi(tmp_path):
    """DATA_WIDTH 512: the readers split 512-bit words (requests start mid-word), the writer
    packs the result stream (which starts 32 bytes into a bus word) with byte strobes; one
    image, threshold, paused and delayed, equal to the golden model."""
    from sievit.rtl.cosim import mismatches
    batches = [{"mode": "threshold", "images": [2], "pause": "runs"}]
    out, images = run_axi_sim(tmp_path, batches, params={"DATA_WIDTH": 512})
    session, golden = _session_and_golden()
    lay = session.layout(1)
    res = session.parse_results(lay, bytes.fromhex(out[0]["results_hex"]), "threshold")
    assert not mismatches(res, golden.run(images[[2]], "threshold")).any()
    assert out[0]["regs"]["CONFIG"] & 0xFFFF == 512
    assert out[0]["status"]["done"] and not out[0]["status"]["error"]


def _verilator_env() -> dict:
    from sievit.rtl.cosim import verilator_bin_dir
    return {**os.environ, "PATH": f"{verilator_bin_dir()}:{os.environ['PATH']}"}


@pytest.mark.parametrize("data_width", [64, 256])
def test_axi_lint_clean(data_width):
    res = subprocess.run(["verilator", "--lint-only", "-Wall", *map(str, axi_sources()),
                          "--top-module", "sievit_axi", f"-GDATA_WIDTH={data_width}"],
                         capture_output=True, text=True, env=_verilator_env())
    assert res.returncode == 0, res.stderr


def test_register_package_and_docs_are_generated_from_regmap(tmp_path):
    from sievit.rtl import regmap as rm
    assert rm.stale_files() == [], "run `sievit regmap` and commit rtl/sievit_regs_pkg.sv, docs/ip.md"
    # a changed definition makes both copies stale
    pkg, doc = tmp_path / "p.sv", tmp_path / "ip.md"
    pkg.write_text(rm.PKG_PATH.read_text())
    doc.write_text(rm.DOC_PATH.read_text())
    assert rm.stale_files(pkg, doc) == []
    old = rm.REGISTERS
    try:
        rm.REGISTERS = (*old, rm.Register("SPARE", 0xFC, "rw", "spare"))
        assert rm.stale_files(pkg, doc) == [str(pkg), str(doc)]
        assert sorted(rm.write_files(pkg, doc)) == sorted([str(pkg), str(doc)])
        assert "REG_SPARE" in pkg.read_text() and "`SPARE`" in doc.read_text()
        assert rm.stale_files(pkg, doc) == []
    finally:
        rm.REGISTERS = old
    doc.write_text("no markers here\n")
    from sievit.errors import SievitError
    with pytest.raises(SievitError, match="lacks the regmap markers"):
        rm.stale_files(pkg, doc)


def test_every_register_is_decoded_by_the_rtl():
    """Each register is in the read decoder, each rw register in the write decoder, and the
    package's offsets are the definition's."""
    import re

    from sievit.rtl import regmap as rm
    rtl = (ROOT / "rtl" / "sievit_axi.sv").read_text()
    read_dec = rtl[rtl.index("// AXI4-Lite read"):rtl.index("assign s_axi_ctrl_arready")]
    write_dec = rtl[rtl.index("if (!busy) begin"):rtl.index("end else begin", rtl.index("if (!busy) begin"))]
    pkg = rm.PKG_PATH.read_text()
    for r in rm.REGISTERS:
        assert f"REG_{r.name}:" in read_dec, r.name
        assert (f"REG_{r.name}:" in write_dec) == (r.access == "rw"), r.name
        m = re.search(rf"REG_{r.name}\s*=\s*8'h([0-9A-F]+);", pkg)
        assert m and int(m.group(1), 16) == r.offset


def test_memory_layout_regions_do_not_overlap():
    from sievit.rtl import regmap as rm
    from sievit.data import first_test_images
    from sievit.errors import SievitError
    session, golden = _session_and_golden()
    images = first_test_images(3).images
    lay, image = session.memory_image(images)
    assert lay.image_addr >= lay.program_bytes and lay.image_addr % 4096 == 0
    assert lay.result_addr >= lay.image_addr + 3 * 784 and lay.result_addr % 4096 == 0
    assert len(image) == lay.total_bytes >= lay.result_addr + 3 * lay.result_stride
    assert image[:lay.program_bytes] == session.program.image
    assert image[lay.image_addr + 784:lay.image_addr + 2 * 784] == images[1].tobytes()
    # the longest result stream (every token kept) fits a slot
    n_tok = session.n_tok
    longest = 2 * (1 + (n_tok + 1) // 2) + (session.classes + 1) // 2
    assert rm.HDR_BYTES + 8 * longest <= lay.result_stride
    with pytest.raises(SievitError, match="images have 100 bytes each; the bundle's program reads 784"):
        session.memory_image(np.zeros((1, 100), np.uint8))
    with pytest.raises(SievitError, match="not 4096-byte aligned"):
        session.register_writes(lay, 0x1234, "none")
    with pytest.raises(SievitError, match="unknown mode 'fast'"):
        session.register_writes(lay, 0, "fast")


# ---------------------------------------------------------------- board path (fake PYNQ)
class FakeBuffer(np.ndarray):
    """pynq.allocate's buffer: a host view and a device copy, synced only by flush() and
    invalidate() (a host that forgets either sees stale data, as on a board)."""

    def __new__(cls, shape, dtype, phys: int):
        obj = np.zeros(shape, dtype).view(cls)
        obj.physical_address = phys
        obj.dev_mem = np.zeros(shape, dtype)
        return obj

    def flush(self):
        self.dev_mem[:] = np.asarray(self)

    def invalidate(self):
        np.asarray(self)[:] = self.dev_mem

    def freebuffer(self):
        self.freed = True


class FakeIP:
    """The IP's register behaviour as docs/ip.md states it, with the golden model as the
    core: on START it reads images from the device memory where the registers point and
    writes result slots (header + stream, encoded here from the documented format)."""

    def __init__(self, session, golden, id_value=None, hang=False):
        from sievit.rtl import regmap as rm
        self.rm, self.s, self.g, self.hang = rm, session, golden, hang
        self.regs = {r.offset: 0 for r in rm.REGISTERS}
        self.regs[rm.OFFSET["ID"]] = rm.ID_VALUE if id_value is None else id_value
        self.regs[rm.OFFSET["VERSION"]] = rm.VERSION_VALUE
        self.regs[rm.OFFSET["CONFIG"]] = 64 | 8 << 16 | rm.HDR_BEATS << 24
        self.buffers, self.writes = [], []

    def allocate(self, shape, dtype):
        buf = FakeBuffer(shape, dtype, phys=0x4000_0000 + 0x100_0000 * len(self.buffers))
        self.buffers.append(buf)
        return buf

    def read(self, off):
        return self.regs[off]

    def write(self, off, val):
        rm = self.rm
        self.writes.append((off, val))
        if off == rm.OFFSET["CTRL"]:
            self.regs[off] = val & (1 << rm.BIT["CTRL.IRQ_EN"])
            if val >> rm.BIT["CTRL.SOFT_RESET"] & 1:
                self.regs[rm.OFFSET["STATUS"]] = 0
            elif val >> rm.BIT["CTRL.START"] & 1:
                self._run()
        else:
            self.regs[off] = val

    def _run(self):
        rm, r = self.rm, lambda name: self.regs[self.rm.OFFSET[name]]
        if self.hang:
            self.regs[rm.OFFSET["STATUS"]] = 1 << rm.BIT["STATUS.BUSY"]
            return
        base = r("MEM_BASE_LO") | r("MEM_BASE_HI") << 32
        mem = next(b.dev_mem for b in self.buffers if b.physical_address == base)
        mode = {a: m for m, a in self.s.program.prog_addr.items()}[r("PROG_ADDR")]
        n, nb = max(1, r("NUM_IMAGES")), r("IMAGE_BYTES")
        for i in range(n):
            at = r("IMAGE_ADDR") + i * nb
            img = mem[at:at + nb].reshape(1, 28, 28)
            gold = self.g.run(img, mode)
            words = []
            for s in range(len(gold.kept) if mode != "none" else 0):
                kept = [int(x) for x in gold.kept[s][0]]
                n_new = int(gold.tokens_per_stage[0, s])
                ids = kept + [-1] * (n_new - len(kept))
                ids += [-1] * (len(ids) % 2)
                words.append(n_new | int(n_new > len(kept)) << 32)
                words += [(ids[k] & 0xFFFFFFFF) | (ids[k + 1] & 0xFFFFFFFF) << 32
                          for k in range(0, len(ids), 2)]
            lg = [int(v) & 0xFFFFFFFF for v in gold.logits[0]] + [0]
            words += [lg[k] | lg[k + 1] << 32 for k in range(0, len(gold.logits[0]), 2)]
            hdr = [len(words), i, 1000 + i, 100, 200, 300, 400, 0]
            slot = r("RESULT_ADDR") + i * r("RESULT_STRIDE")
            blob = np.array(hdr, "<u4").tobytes() + np.array(words, "<u8").tobytes()
            mem[slot:slot + len(blob)] = np.frombuffer(blob, np.uint8)
        self.regs[rm.OFFSET["IMAGES_DONE"]] = n
        self.regs[rm.OFFSET["BATCH_CYCLES_LO"]] = 5000
        self.regs[rm.OFFSET["STATUS"]] = 1 << rm.BIT["STATUS.DONE"]


def test_board_driver_with_fake_pynq():
    """Board.run on a fake MMIO/allocate: the registers it writes lead the fake IP to the
    right images, program and slots, and the parsed results equal the golden model's."""
    from sievit.rtl import regmap as rm
    from sievit.rtl.cosim import mismatches
    from sievit.data import first_test_images
    from sievit.rtl.host import Board
    session, golden = _session_and_golden()
    images = first_test_images(3).images
    for mode in ("threshold", "none"):
        ip = FakeIP(session, golden)
        board = Board(session, mmio=ip, allocate=ip.allocate)
        assert board.info == {"data_width": 64, "lanes": 8, "hdr_beats": 4}
        out = board.run(images, mode)
        assert not mismatches(out["results"], golden.run(images, mode)).any()
        assert [r["cycles"] for r in out["results"]] == [1000, 1001, 1002]
        assert out["results"][0]["phases"] == {"attention": 100, "mlp": 200, "pruning": 300,
                                               "layernorm": 400, "other": 0}
        assert out["images_done"] == 3 and out["batch_cycles"] == 5000
        assert ip.writes[-1] == (rm.OFFSET["CTRL"], 1 << rm.BIT["CTRL.START"])
        assert ip.regs[rm.OFFSET["MEM_BASE_LO"]] == ip.buffers[0].physical_address
        assert getattr(ip.buffers[0], "freed", False)


def test_board_driver_errors(monkeypatch):
    import builtins

    from sievit.rtl import regmap as rm
    from sievit.data import first_test_images
    from sievit.errors import SievitError
    from sievit.rtl.host import Board
    session, golden = _session_and_golden()
    ip = FakeIP(session, golden, id_value=0xDEADBEEF)
    with pytest.raises(SievitError, match="no sievit IP at this address: ID reads 0xdeadbeef") as e:
        Board(session, mmio=ip, allocate=ip.allocate)
    assert e.value.code == 1
    ip = FakeIP(session, golden, hang=True)
    board = Board(session, mmio=ip, allocate=ip.allocate, timeout_s=0.05)
    with pytest.raises(SievitError, match="did not finish 1 images within 0.05 s") as e:
        board.run(first_test_images(1).images, "none")
    assert e.value.code == 1
    assert ip.writes[-1] == (rm.OFFSET["CTRL"], 1 << rm.BIT["CTRL.SOFT_RESET"])
    real_import = builtins.__import__

    def no_pynq(name, *a, **k):
        if name == "pynq":
            raise ImportError("No module named 'pynq'")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_pynq)
    with pytest.raises(SievitError, match="the board driver needs PYNQ") as e:
        Board(session, ctrl_addr=0xA000_0000)
    assert e.value.code == 3


# ---------------------------------------------------------------- IP packaging Tcl
def _sv_ports() -> list[str]:
    """Port names of sievit_axi read straight from its header (independent of ip_package)."""
    import re
    text = (ROOT / "rtl" / "sievit_axi.sv").read_text()
    header = text[text.index("module sievit_axi"):text.index(");", text.index("module sievit_axi"))]
    header = header[header.index(") (") + 3:]
    return re.findall(r"^\s*(?:input|output)\s+logic\s*(?:\[[^\]]*\])?\s*(\w+)", header, re.M)


def _run_tcl(script: Path, refuse: str | None = None) -> list[tuple[str, ...]]:
    """Source `script` in a Tcl interpreter where every Vivado command is recorded; a fake
    ipx::infer_bus_interface names the interface after its ports' common prefix."""
    import tkinter
    tcl = tkinter.Tcl()
    calls, inferred = [], set()

    def record(*args):
        calls.append(args)
        if args[0] == "ipx::infer_bus_interface":
            ports = tcl.splitlist(args[1])
            name = os.path.commonprefix(list(ports)).rstrip("_") if len(ports) > 1 else ports[0]
            if name != refuse:
                inferred.add(name)
        if args[0] == "ipx::get_bus_interfaces":
            return args[1] if args[1] in inferred else ""
        return ""
    tcl.createcommand("vivado_record", record)
    tcl.eval("proc unknown {args} { return [vivado_record {*}$args] }")
    tcl.eval("set argc 0; set argv {}")
    tcl.eval(f"source {{{script}}}")
    return calls


def test_ip_package_tcl_names_every_source_port_and_register(tmp_path):
    import tkinter

    from sievit.rtl import regmap as rm
    from sievit.cli import main as sievit_main
    out = tmp_path / "ip"
    assert sievit_main(["rtl", "ip", "--out", str(out), "--data-width", "128"]) == 0
    srcs = axi_sources()
    assert (out / "sources.f").read_text().split() == [f"src/{p.name}" for p in srcs]
    for p in srcs:
        assert (out / "src" / p.name).read_bytes() == p.read_bytes()
    calls = _run_tcl(out / "package_ip.tcl")
    by = {}
    for c in calls:
        by.setdefault(c[0], []).append(c[1:])
    tcl = tkinter.Tcl()
    added = [Path(f) for f in tcl.splitlist(by["add_files"][0][1])]
    assert added == [(out / "src" / p.name).resolve() for p in srcs]
    assert all(f.is_file() for f in added)
    assert ("top", "sievit_axi", "") in by["set_property"]
    assert by["ipx::package_project"][0][:2] == ("-root_dir", str((out / "ip_repo" / "sievit_axi").resolve()))
    # every port belongs to exactly one inferred interface
    groups = [tcl.splitlist(c[0]) for c in by["ipx::infer_bus_interface"]]
    flat = [p for g in groups for p in g]
    assert sorted(flat) == sorted(_sv_ports()) and len(flat) == len(set(flat))
    assert [c[1] for c in by["ipx::infer_bus_interface"]] == \
        ["xilinx.com:interface:aximm_rtl:1.0"] * 2 + \
        [f"xilinx.com:signal:{k}_rtl:1.0" for k in ("clock", "reset", "interrupt")]
    assert [c[0] for c in by["ipx::add_register"]] == [r.name for r in rm.REGISTERS]
    offsets = [c[1] for c in by["set_property"] if c[0] == "address_offset"]
    assert [int(o, 16) for o in offsets] == [r.offset for r in rm.REGISTERS]
    assert ("value", "128", "") in by["set_property"]
    assert ("value", "ACTIVE_LOW", "") in by["set_property"]
    assert ("-busif", "m_axi", "-clock", "aclk", "") in by["ipx::associate_bus_interfaces"]
    assert calls[-1][0] == "close_project" and "ipx::save_core" in by
    # an interface Vivado does not infer stops the script
    with pytest.raises(tkinter.TclError, match="bus interface m_axi was not inferred"):
        _run_tcl(out / "package_ip.tcl", refuse="m_axi")


def test_ip_package_bad_input_leaves_nothing(tmp_path, capsys):
    from sievit.cli import main as sievit_main
    out = tmp_path / "ip"
    with pytest.raises(SystemExit) as exc:
        sievit_main(["ip-package", "--out", str(out), "--data-width", "96"])
    assert exc.value.code == 2
    assert "invalid choice: 96 (choose from 64, 128, 256, 512)" in capsys.readouterr().err
    from sievit.errors import SievitError
    from sievit.rtl.ip_package import ip_package
    with pytest.raises(SievitError, match=r"--data-width 96 is not one of \(64, 128, 256, 512\)"):
        ip_package(out, data_width=96)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    out.mkdir()
    assert sievit_main(["ip-package", "--out", str(out)]) == 2
    assert f"output directory {out} exists (use --force to replace it)" in capsys.readouterr().err
    assert sievit_main(["ip-package", "--out", str(out), "--force"]) == 0
    assert (out / "package_ip.tcl").is_file()
    assert sievit_main(["regmap", "--check"]) == 0
