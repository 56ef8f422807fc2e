"""cocotb testbenches of the RTL engines: every case of the engine's case file through the
AXI4-Stream ports with random TVALID/TREADY stalls, outputs compared bit for bit with the
golden model's; then a reset in the middle of a tensor followed by a correct run."""
from __future__ import annotations

import os
import random
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from case_files import gelu_cases, pack_i32, pack_i8, softmax_cases, unpack_i8, unpack_u8

CASES = Path(os.environ.get("SIEVIT_CASE_DIR", "."))
MAX_CASES = int(os.environ.get("SIEVIT_MAX_CASES", "1000"))
SEED = int(os.environ.get("SIEVIT_STALL_SEED", "1"))


def stalls(rng: random.Random, p_stall: float):
    while True:
        yield 1 if rng.random() < p_stall else 0


async def setup(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst_n,
                          reset_active_level=False, byte_lanes=1)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst_n,
                         reset_active_level=False, byte_lanes=1)
    rng = random.Random(SEED)
    src.set_pause_generator(stalls(rng, 0.3))
    sink.set_pause_generator(stalls(rng, 0.3))
    await reset(dut)
    return src, sink


async def reset(dut):
    dut.rst_n.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst_n.value = 1
    await RisingEdge(dut.clk)


async def transfer(src, sink, words: list[int], timeout_ns: int) -> list[int]:
    await src.send(AxiStreamFrame(words))
    frame = await with_timeout(sink.recv(), timeout_ns, "ns")
    return list(frame.tdata)


async def run_cases(dut, cases, configure, send_words, check, timeout_ns=200_000):
    src, sink = await setup(dut)
    bad = 0
    for i, case in enumerate(cases[:MAX_CASES]):
        configure(dut, case)
        got = await transfer(src, sink, send_words(case), timeout_ns)
        if not check(case, got):
            if bad == 0:
                dut._log.error(f"case {i}: mismatch")
            bad += 1
    assert bad == 0, f"{bad} of {min(len(cases), MAX_CASES)} cases mismatch"
    dut._log.info(f"{min(len(cases), MAX_CASES)} cases, 0 mismatches")


async def reset_mid_tensor(dut, case, configure, send_words, check):
    """Start a tensor, reset while it streams, then run it again and check the result."""
    src, sink = await setup(dut)
    configure(dut, case)
    words = send_words(case)
    cocotb.start_soon(src.send(AxiStreamFrame(words)))
    await ClockCycles(dut.clk, max(2, len(words) // 2))
    dut.rst_n.value = 0
    await ClockCycles(dut.clk, 3)
    src.clear()
    sink.clear()
    dut.rst_n.value = 1
    await ClockCycles(dut.clk, 5)
    sink.clear()
    got = await transfer(src, sink, words, 200_000)
    assert check(case, got), "wrong result after a reset in the middle of a tensor"


# -- gelu -------------------------------------------------------------------------------------
def gelu_cfg(dut, c):
    dut.frac_in.value = c["frac_in"]
    dut.frac_out.value = c["frac_out"]


def gelu_words(c):
    return pack_i8(c["x"])


def gelu_check(c, got):
    return len(got) == len(pack_i8(c["x"])) and np.array_equal(unpack_i8(got, len(c["y"])), c["y"])


@cocotb.test()
async def gelu_cases_bit_exact(dut):
    await run_cases(dut, gelu_cases(CASES / "gelu.bin"), gelu_cfg, gelu_words, gelu_check)


@cocotb.test()
async def gelu_reset_mid_tensor(dut):
    case = max(gelu_cases(CASES / "gelu.bin")[:50], key=lambda c: len(c["x"]))
    await reset_mid_tensor(dut, case, gelu_cfg, gelu_words, gelu_check)


# -- softmax ----------------------------------------------------------------------------------
def softmax_cfg(dut, c):
    dut.n.value = len(c["x"])
    dut.frac.value = c["frac"]


def softmax_words(c):
    return pack_i32(c["x"])


def softmax_check(c, got):
    return len(got) == -(-len(c["x"]) // 8) and np.array_equal(unpack_u8(got, len(c["y"])), c["y"])


@cocotb.test()
async def softmax_cases_bit_exact(dut):
    await run_cases(dut, softmax_cases(CASES / "softmax.bin"), softmax_cfg, softmax_words,
                    softmax_check)


@cocotb.test()
async def softmax_reset_mid_tensor(dut):
    case = max(softmax_cases(CASES / "softmax.bin")[:200], key=lambda c: len(c["x"]))
    await reset_mid_tensor(dut, case, softmax_cfg, softmax_words, softmax_check)
