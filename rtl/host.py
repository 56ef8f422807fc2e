"""Host runtime of the AXI IP (rtl/sievit_axi.sv): the memory-image layout, the register
sequence that runs a batch, the result-slot parser, and two drivers of the same sequence:
`Board` on a PYNQ board (pynq.MMIO + pynq.allocate, imported only there) and `run_cosim`
under cocotb (cocotbext-axi's AxiLiteMaster and AxiRam).

Memory image (one buffer; MEM_BASE holds its bus address, every other address is an offset):

    0              weights, biases, programs        (rtl/program.py Program.image)
    image_addr     n_images x image_bytes           (uint8 pixels, HWC)
    result_addr    n_images x result_stride         (header + result stream per image)

Offsets are 4 KiB aligned, so every region starts on a page and a bus word."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sievit.rtl import regmap as rm
from sievit.errors import SievitError
from sievit.rtl.program import Program

ALIGN = 4096
SLOT_ALIGN = 64   # the widest m_axi bus word (512 bits)
FILL = 0xA5       # result slots are pre-filled with it: a slot the IP never wrote shows up


def _align(n: int, a: int) -> int:
    return -(-n // a) * a


@dataclass(frozen=True)
class MemoryLayout:
    """Where the program, the images and the result slots lie in the memory image."""
    program_bytes: int
    image_bytes: int
    n_images: int
    max_result_beats: int

    @property
    def image_addr(self) -> int:
        return _align(self.program_bytes, ALIGN)

    @property
    def result_addr(self) -> int:
        return _align(self.image_addr + self.n_images * self.image_bytes, ALIGN)

    @property
    def result_stride(self) -> int:
        return _align(rm.HDR_BYTES + 8 * self.max_result_beats, SLOT_ALIGN)

    @property
    def total_bytes(self) -> int:
        return _align(self.result_addr + self.n_images * self.result_stride, ALIGN)


class Session:
    """One bundle's program on the IP: builds the memory image for a batch of images, the
    register writes that run it in a mode, and parses the result slots."""

    def __init__(self, program: Program):
        self.program = program
        lay = program.layout
        self.stages = len(lay.desc["sel_block"])
        self.classes = int(lay.m["num_classes"])
        self.n_tok = int(lay.n_tok)
        pixels = lay.m["image_size"] ** 2 * lay.m["in_chans"]
        self.image_bytes = int(pixels)
        # per stage one {n_new, n_fused} beat and ceil(n_new / 2) id beats, then the logits
        self.max_result_beats = self.stages * (1 + (self.n_tok + 1) // 2) + (self.classes + 1) // 2

    def layout(self, n_images: int) -> MemoryLayout:
        if n_images < 1:
            raise SievitError(f"a batch needs at least one image, got {n_images}")
        return MemoryLayout(len(self.program.image), self.image_bytes, n_images,
                            self.max_result_beats)

    def memory_image(self, images: np.ndarray) -> tuple[MemoryLayout, bytes]:
        """The whole buffer for `images` (uint8 [N, H, W] or [N, H, W, C])."""
        flat = np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1)
        if flat.shape[1] != self.image_bytes:
            raise SievitError(f"images have {flat.shape[1]} bytes each; the bundle's "
                              f"program reads {self.image_bytes}")
        lay = self.layout(len(flat))
        buf = bytearray(lay.total_bytes)
        buf[:lay.program_bytes] = self.program.image
        buf[lay.image_addr:lay.image_addr + flat.size] = flat.tobytes()
        buf[lay.result_addr:] = bytes([FILL]) * (lay.total_bytes - lay.result_addr)
        return lay, bytes(buf)

    def register_writes(self, lay: MemoryLayout, base: int, mode: str) -> list[tuple[int, int]]:
        """(offset, value) writes that configure a batch; START comes after them."""
        if mode not in self.program.prog_addr:
            raise SievitError(f"unknown mode {mode!r}; choose from {', '.join(self.program.prog_addr)}")
        if base % ALIGN:
            raise SievitError(f"memory base 0x{base:x} is not {ALIGN}-byte aligned")
        o = rm.OFFSET
        return [(o["MEM_BASE_LO"], base & 0xFFFFFFFF), (o["MEM_BASE_HI"], base >> 32),
                (o["PROG_ADDR"], self.program.prog_addr[mode]),
                (o["IMAGE_ADDR"], lay.image_addr), (o["IMAGE_BYTES"], lay.image_bytes),
                (o["RESULT_ADDR"], lay.result_addr), (o["RESULT_STRIDE"], lay.result_stride),
                (o["NUM_IMAGES"], lay.n_images)]

    def check_identity(self, id_value: int, version: int, config: int) -> dict:
        """Raise SievitError unless the ID/VERSION/CONFIG registers name this register map."""
        if id_value != rm.ID_VALUE:
            raise SievitError(f"no sievit IP at this address: ID reads 0x{id_value:08x}, "
                              f"expected 0x{rm.ID_VALUE:08x}", code=1)
        if version >> 16 != rm.VERSION[0]:
            raise SievitError(f"IP register map version {version >> 16}.{version & 0xFFFF}; "
                              f"this host speaks {rm.VERSION[0]}.x", code=1)
        return {"data_width": config & 0xFFFF, "lanes": (config >> 16) & 0xFF,
                "hdr_beats": (config >> 24) & 0xFF}

    def parse_results(self, lay: MemoryLayout, results: bytes, mode: str) -> list[dict]:
        """Result slots -> per image {ids, n_new, fused, logits, cycles, phases}, the same
        records sievit.rtl.cosim.parse_results makes (so the same golden comparison applies)."""
        from sievit.rtl.cosim import PHASES, parse_results
        stages = self.stages if mode != "none" else 0
        lines = []
        for i in range(lay.n_images):
            slot = results[i * lay.result_stride:(i + 1) * lay.result_stride]
            hdr = np.frombuffer(slot[:rm.HDR_BYTES], dtype="<u4")
            h = {name: int(hdr[k]) for k, (name, _) in enumerate(rm.RESULT_HEADER)}
            if h["IMAGE_INDEX"] != i or h["RESULT_BEATS"] > self.max_result_beats:
                raise SievitError(f"result slot {i} was not written by the IP (header {h})",
                                  code=1)
            words = np.frombuffer(slot[rm.HDR_BYTES:rm.HDR_BYTES + 8 * h["RESULT_BEATS"]],
                                  dtype="<u8")
            lines += [f"R {int(w):016x}" for w in words]
            lines.append("P " + " ".join(str(h[f"CYCLES_{p.upper()}"])
                                         for p in ("total", *PHASES)))
        return parse_results("\n".join(lines), lay.n_images, stages, self.classes)


def _status_bits(status: int) -> dict:
    return {f.name.lower(): bool(status >> f.lsb & 1)
            for f in next(r for r in rm.REGISTERS if r.name == "STATUS").fields}


class Board:
    """The IP on a PYNQ board. `mmio` has read(offset) / write(offset, value) (pynq.MMIO of
    the IP's s_axi_ctrl); `allocate(shape, dtype)` returns a buffer with
    .physical_address, .flush() and .invalidate() (pynq.allocate). Both default to PYNQ's,
    imported here only, so the module loads where PYNQ is not installed."""

    def __init__(self, session: Session, mmio=None, allocate: Callable | None = None,
                 ctrl_addr: int | None = None, timeout_s: float = 60.0):
        if mmio is None or allocate is None:
            try:
                import pynq
            except ImportError as exc:
                raise SievitError("the board driver needs PYNQ (pip install pynq, on the "
                                  "board); pass mmio= and allocate= to use another", code=3) from exc
            if mmio is None:
                if ctrl_addr is None:
                    raise SievitError("Board needs mmio= or ctrl_addr= (the IP's s_axi_ctrl "
                                      "address from the block design)")
                mmio = pynq.MMIO(ctrl_addr, 1 << rm.ADDR_BITS)
            allocate = allocate or pynq.allocate
        self.s, self.mmio, self.allocate, self.timeout_s = session, mmio, allocate, timeout_s
        self.info = session.check_identity(mmio.read(rm.OFFSET["ID"]),
                                           mmio.read(rm.OFFSET["VERSION"]),
                                           mmio.read(rm.OFFSET["CONFIG"]))

    def soft_reset(self) -> dict:
        """Stop the IP (CTRL.SOFT_RESET) and wait until its AXI bursts have drained."""
        ctrl = rm.OFFSET["CTRL"]
        irq = self.mmio.read(ctrl) & (1 << rm.BIT["CTRL.IRQ_EN"])
        self.mmio.write(ctrl, irq | 1 << rm.BIT["CTRL.SOFT_RESET"])
        t0 = time.perf_counter()
        while (st := _status_bits(self.mmio.read(rm.OFFSET["STATUS"])))["busy"]:
            if time.perf_counter() - t0 > self.timeout_s:
                raise SievitError("IP still busy after a soft reset", code=1)
            time.sleep(1e-4)
        return st

    def run(self, images: np.ndarray, mode: str) -> dict:
        """Run one batch; returns {"results": [...], "batch_cycles", "status", "wall_s"}."""
        lay, image = self.s.memory_image(images)
        buf = self.allocate(shape=(lay.total_bytes,), dtype=np.uint8)
        try:
            return self._run(buf, lay, image, mode)
        finally:
            getattr(buf, "freebuffer", lambda: None)()   # pynq buffers hold CMA memory

    def _run(self, buf, lay: MemoryLayout, image: bytes, mode: str) -> dict:
        buf[:] = np.frombuffer(image, dtype=np.uint8)
        buf.flush()
        for off, val in self.s.register_writes(lay, int(buf.physical_address), mode):
            self.mmio.write(off, val)
        ctrl = rm.OFFSET["CTRL"]
        irq = self.mmio.read(ctrl) & (1 << rm.BIT["CTRL.IRQ_EN"])
        t0 = time.perf_counter()
        self.mmio.write(ctrl, irq | 1 << rm.BIT["CTRL.START"])
        while True:
            st = _status_bits(self.mmio.read(rm.OFFSET["STATUS"]))
            if st["done"] and not st["busy"]:
                break
            if time.perf_counter() - t0 > self.timeout_s:
                self.mmio.write(ctrl, irq | 1 << rm.BIT["CTRL.SOFT_RESET"])
                raise SievitError(f"IP did not finish {lay.n_images} images within "
                                  f"{self.timeout_s} s (soft reset issued)", code=1)
            time.sleep(1e-4)
        wall = time.perf_counter() - t0
        if st["error"]:
            raise SievitError("IP reported an AXI error response (STATUS.ERROR)", code=1)
        buf.invalidate()
        end = lay.result_addr + lay.n_images * lay.result_stride
        res = bytes(np.asarray(buf[lay.result_addr:end]))
        cycles = self.mmio.read(rm.OFFSET["BATCH_CYCLES_LO"]) | \
            self.mmio.read(rm.OFFSET["BATCH_CYCLES_HI"]) << 32
        return {"results": self.s.parse_results(lay, res, mode), "batch_cycles": cycles,
                "images_done": self.mmio.read(rm.OFFSET["IMAGES_DONE"]), "status": st,
                "wall_s": wall}


# ----------------------------------------------------------------------------- cosim driver
class CosimBus:
    """The wrapper's two AXI ports under cocotb: an AxiLiteMaster on s_axi_ctrl and an
    AxiRam of `mem_bytes` on m_axi. `latency` cycles pass between a read burst's address
    and its first beat (AxiRam itself answers at once)."""

    def __init__(self, dut, mem_bytes: int, period_ns: float, latency: int = 0):
        import logging
        from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam
        self.dut, self.period_ns = dut, period_ns
        # the models log every burst at INFO: a cost per burst and megabytes of log
        logging.getLogger(f"cocotb.{dut._name}").setLevel(logging.WARNING)
        self.lite = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_ctrl"), dut.aclk,
                                  dut.aresetn, reset_active_level=False)
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.aclk, dut.aresetn,
                          reset_active_level=False, size=mem_bytes)
        if latency:
            self._delay_reads(latency)

    def _delay_reads(self, latency: int) -> None:
        from cocotb.triggers import Timer
        ar = self.ram.read_if.ar_channel
        recv = ar.recv

        async def delayed():
            burst = await recv()
            await Timer(latency * self.period_ns, "ns")
            return burst

        ar.recv = delayed

    def _channels(self) -> list:
        w, r = self.ram.write_if, self.ram.read_if
        return [w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel]

    def set_pause_generators(self, make: Callable | None) -> None:
        """AxiRam's pause generators: a fresh make() on each of its five channels (None:
        none). The model steps a generator once per clock cycle."""
        for ch in self._channels():
            ch.set_pause_generator(make() if make else None)

    def start_pause_runs(self, pct: int, seed: int, max_run: int = 16) -> None:
        """Random backpressure at a fraction of the generators' cost: each channel's pause
        flag (the one a pause generator sets) is set with probability pct/100 for a random
        run of 1..max_run cycles, one timer per run instead of one step per cycle."""
        import random

        import cocotb
        from cocotb.triggers import FallingEdge, Timer

        async def drive(ch, rng):
            await FallingEdge(self.dut.aclk)   # change flags between clock edges
            while True:
                ch.pause = rng.random() < pct / 100
                await Timer(rng.randint(1, max_run) * self.period_ns, "ns")

        self._pause_tasks = [cocotb.start_soon(drive(ch, random.Random(seed * 16 + k)))
                             for k, ch in enumerate(self._channels())]

    def stop_pause_runs(self) -> None:
        for t in getattr(self, "_pause_tasks", []):
            t.cancel()
        self._pause_tasks = []
        for ch in self._channels():
            ch.pause = False

    async def read(self, off: int) -> int:
        return await self.lite.read_dword(off)

    async def write(self, off: int, val: int) -> None:
        await self.lite.write_dword(off, val)

    async def wait_cycles(self, n: int) -> None:
        from cocotb.triggers import Timer
        await Timer(n * self.period_ns, "ns")


async def start_cosim(bus: CosimBus, session: Session, images: np.ndarray, mode: str,
                      base: int) -> MemoryLayout:
    """Board.run's first half through the simulated ports: check the ID, load the memory
    image into the AxiRam at `base`, write the registers and START."""
    session.check_identity(*[await bus.read(rm.OFFSET[r]) for r in ("ID", "VERSION", "CONFIG")])
    lay, image = session.memory_image(images)
    if base + lay.total_bytes > bus.ram.size:
        raise SievitError(f"AxiRam of {bus.ram.size} bytes cannot hold the image at 0x{base:x}")
    bus.ram.write(base, image)
    for off, val in session.register_writes(lay, base, mode):
        await bus.write(off, val)
    ctrl = rm.OFFSET["CTRL"]
    irq = await bus.read(ctrl) & (1 << rm.BIT["CTRL.IRQ_EN"])
    await bus.write(ctrl, irq | 1 << rm.BIT["CTRL.START"])
    return lay


async def wait_cosim(bus: CosimBus, poll_cycles: int, max_cycles: int, what: str,
                     until_done: bool = True) -> dict:
    """Poll STATUS every `poll_cycles` until BUSY is low (and DONE high if `until_done`)."""
    waited = 0
    while True:
        st = _status_bits(await bus.read(rm.OFFSET["STATUS"]))
        if not st["busy"] and (st["done"] or not until_done):
            return st
        if waited > max_cycles:
            raise SievitError(f"IP did not finish {what} within {max_cycles} cycles", code=1)
        await bus.wait_cycles(poll_cycles)
        waited += poll_cycles


async def run_cosim(bus: CosimBus, session: Session, images: np.ndarray, mode: str,
                    base: int, poll_cycles: int = 20_000, max_cycles: int = 10**9) -> dict:
    """One batch in the simulation, as Board.run does it on a board; returns the raw result
    bytes, every register and the status (parse with Session.parse_results)."""
    lay = await start_cosim(bus, session, images, mode, base)
    st = await wait_cosim(bus, poll_cycles, max_cycles, f"{lay.n_images} images ({mode})")
    regs = {r.name: await bus.read(r.offset) for r in rm.REGISTERS}
    res = bus.ram.read(base + lay.result_addr, lay.n_images * lay.result_stride)
    return {"results_hex": res.hex(), "regs": regs, "status": st, "n_images": lay.n_images}


async def soft_reset_cosim(bus: CosimBus, max_cycles: int = 100_000) -> dict:
    """Write CTRL.SOFT_RESET and wait until the drain is over; returns the status."""
    ctrl = rm.OFFSET["CTRL"]
    irq = await bus.read(ctrl) & (1 << rm.BIT["CTRL.IRQ_EN"])
    await bus.write(ctrl, irq | 1 << rm.BIT["CTRL.SOFT_RESET"])
    return await wait_cosim(bus, 50, max_cycles, "the soft reset", until_done=False)
