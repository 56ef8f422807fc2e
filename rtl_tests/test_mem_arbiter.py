"""`mem_arbiter` (rtl/mem_arbiter.sv) on its own, under cocotb on Verilator: two requesters
asking for random bursts at random times against a port that takes requests and hands words
over with random pauses. Checks every cycle: a taken request is one requester's and carries
its address and length; an offered request stays offered, unchanged, until taken; requester
0 wins when both ask at once; only the burst's owner sees its words, each burst exactly its
length, and no request is offered while a burst is in flight. This file is both the pytest
test and the cocotb module it runs."""
from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BURSTS = 150          # per requester


def test_mem_arbiter_random_bursts(tmp_path):
    from cocotb_tools.runner import get_runner
    from sievit.rtl.cosim import simulator_env, verilator_make_flags
    simulator_env("verilator")
    build_dir = tmp_path / "build"
    runner = get_runner("verilator")
    with verilator_make_flags():
        runner.build(sources=[ROOT / "rtl" / "mem_arbiter.sv"], hdl_toplevel="mem_arbiter",
                     build_dir=build_dir, build_args=["-Wno-fatal"], timescale=("1ns", "1ps"),
                     always=True, log_file=build_dir / "build.log")
    runner.test(hdl_toplevel="mem_arbiter", test_module="test_mem_arbiter", test_dir=tmp_path,
                extra_env={"COCOTB_LOG_LEVEL": "WARNING",
                           "PYTHONPATH": os.pathsep.join([str(ROOT / "rtl_tests"), *sys.path])},
                results_xml=str(tmp_path / "results.xml"), log_file=tmp_path / "sim.log")
    xml = (tmp_path / "results.xml").read_text()
    assert "<failure" not in xml and "tests=\"1\"" in xml, (tmp_path / "sim.log").read_text()[-3000:]
    shutil.rmtree(build_dir, ignore_errors=True)


try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ReadOnly, RisingEdge
except ImportError:  # pytest collection without cocotb's simulator side
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def random_bursts(dut):
        rng = random.Random(11)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst_n.value = 0
        dut.req_valid.value = 0
        dut.rsp_ready.value = 0
        dut.m_req_ready.value = 0
        dut.m_rsp_valid.value = 0
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst_n.value = 1
        todo = [[(rng.randrange(1 << 20) * 8, rng.randint(1, 9)) for _ in range(BURSTS)]
                for _ in range(2)]
        got = [[], []]               # (addr, words received) per finished burst
        want = [list(t) for t in todo]
        cur = [None, None]           # the request each requester offers now
        wait = [0, 0]                # idle cycles before its next request
        taken = [None, None]         # the request the port took and still owes words
        words = [0, 0]
        port = None                  # [owner, addr, beats left]
        offered = None               # (addr, beats) offered last cycle and not taken
        for _ in range(200_000):
            # drive the requesters and the port for this cycle
            for i in range(2):
                if cur[i] is None and taken[i] is None and todo[i] and wait[i] == 0:
                    cur[i] = todo[i].pop(0)
                wait[i] = max(wait[i] - 1, 0)
            dut.req_valid.value = (int(cur[0] is not None)) | (int(cur[1] is not None) << 1)
            a = [c[0] if c else 0 for c in cur]
            b = [c[1] if c else 0 for c in cur]
            dut.req_addr.value = a[0] | (a[1] << 32)
            dut.req_beats.value = b[0] | (b[1] << 16)
            dut.rsp_ready.value = int(rng.random() < 0.7) | (int(rng.random() < 0.7) << 1)
            dut.m_req_ready.value = int(port is None and rng.random() < 0.6)
            dut.m_rsp_valid.value = int(port is not None and rng.random() < 0.7)
            await ReadOnly()
            m_valid, m_ready = int(dut.m_req_valid.value), int(dut.m_req_ready.value)
            req_ready = int(dut.req_ready.value)
            addr, beats = int(dut.m_req_addr.value), int(dut.m_req_beats.value)
            if offered is not None:
                assert m_valid and (addr, beats) == offered, "an offered request changed before it was taken"
            assert not (m_valid and port is not None), "a request is offered while a burst is in flight"
            if m_valid and cur[0] is not None and offered is None:
                assert (addr, beats) == cur[0], "requester 0 does not go first"
            if m_valid and m_ready:
                assert req_ready in (1, 2), f"req_ready {req_ready:b} at a taken request"
                i = req_ready >> 1
                assert cur[i] == (addr, beats), "the port took another request than the requester's"
                taken[i], words[i], cur[i] = cur[i], 0, None
                wait[i] = rng.randint(0, 4)
                port = [i, addr, beats]
                offered = None
            else:
                assert req_ready == 0, "req_ready without a taken request"
                offered = (addr, beats) if m_valid else None
            rsp_valid, rsp_ready = int(dut.rsp_valid.value), int(dut.rsp_ready.value)
            m_rsp_valid, m_rsp_ready = int(dut.m_rsp_valid.value), int(dut.m_rsp_ready.value)
            if port is not None and not (m_valid and m_ready):
                owner = port[0]
                assert rsp_valid == (m_rsp_valid << owner), "words went to the wrong requester"
                assert m_rsp_ready == (rsp_ready >> owner) & 1, "the port sees another requester's ready"
                if m_rsp_valid and m_rsp_ready:
                    words[owner] += 1
                    port[2] -= 1
                    if port[2] == 0:
                        got[owner].append((taken[owner][0], words[owner]))
                        taken[owner] = None
                        port = None
            else:
                assert rsp_valid == 0, "words without a burst"
            await RisingEdge(dut.clk)
            if all(not t for t in todo) and cur == [None, None] and port is None:
                break
        for i in range(2):
            assert got[i] == want[i], f"requester {i}: bursts {got[i][:3]}... != {want[i][:3]}..."
