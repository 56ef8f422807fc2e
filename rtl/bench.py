"""cocotb test of the whole-model RTL harness (rtl/sim/sievit_top_tb.sv, which makes its own
10 ns clock and reset): it waits for the harness to finish, with a watchdog on the cycles
since the last finished image. Progress and any watchdog message go to files that
sievit.rtl.cosim reads; the harness writes the results."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.triggers import First, RisingEdge, Timer

PERIOD_NS = 10


@cocotb.test()
async def run_images(dut):
    cfg = json.loads(Path(os.environ["SIEVIT_COSIM_CFG"]).read_text())
    status = Path(cfg["status"])
    chunk = max(1000, min(cfg["watchdog_cycles"], 200_000))
    last_done, idle = 0, 0
    while not int(dut.finished.value):
        await First(RisingEdge(dut.finished), Timer(chunk * PERIOD_NS, "ns"))
        done = int(dut.images_done.value)
        idle = 0 if done != last_done else idle + chunk
        last_done = done
        if idle >= cfg["watchdog_cycles"] and not int(dut.finished.value):
            msg = (f"watchdog: image {done} produced no result within {idle} cycles "
                   f"(limit --watchdog-cycles {cfg['watchdog_cycles']}; run with --stall "
                   f"{cfg.get('stall_pct', 0)}, --mem-latency {cfg.get('mem_latency', 0)})")
            status.write_text(json.dumps({"error": msg}))
            raise AssertionError(msg)
    status.write_text(json.dumps({"finished": int(dut.images_done.value)}))
