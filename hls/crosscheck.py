"""Independent cross-check of the `linear` engine with hls4ml: the classifier head goes
Brevitas -> QONNX -> hls4ml, hls4ml's own C-simulation computes it, and our engine (through
the project's engine testbench) must give the same integers on the same int8 inputs."""
from __future__ import annotations

import contextlib
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from sievit.errors import SievitError
from sievit.engine_cases import CaseFile, random_int8
from sievit.layout import Layout
from sievit.quant.bundle import load_bundle


def hls4ml_head(ckpt: Path, work: Path):
    """hls4ml model of the checkpoint's head (input quantizer + QuantLinear), compiled."""
    import torch
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    import hls4ml
    from sievit.quant.export import load_checkpoint
    model = load_checkpoint(ckpt).float()
    head = torch.nn.Sequential(model.ln_f_out.q, model.head.lin).eval()
    onnx_path = work / "head.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(head, input_t=torch.zeros(1, model.head.lin.in_features), export_path=str(onnx_path))
    mw = cleanup_model(ModelWrapper(str(onnx_path)))
    mw = mw.transform(ConvertToChannelsLastAndClean())
    mw = cleanup_model(mw.transform(GemmToMatMul()))
    cfg = hls4ml.utils.config.config_from_onnx_model(mw, granularity="name", backend="Vitis",
                                                     default_precision="fixed<40,20>")
    hm = hls4ml.converters.convert_from_onnx_model(mw, output_dir=str(work / "hls4ml_prj"),
                                                   io_type="io_parallel", backend="Vitis",
                                                   hls_config=cfg)
    hm.compile()
    return hm


def crosscheck_head(ckpt: Path, prj: Path, n_cases: int = 1000, seed: int = 0) -> dict:
    """Run hls4ml's C-simulation of the head and our linear engine on the same inputs."""
    from sievit.hls.csim import run_testbench, compile_target
    from sievit.data import first_images_for
    from sievit.quant.golden import Golden
    bundle = load_bundle(prj / "bundle")
    from sievit.hls.project import project_layout
    layout = project_layout(prj, bundle)
    index = [name for name, _ in layout.names].index("head")
    d = layout.names[index][1]
    f_in, f_acc = bundle.f("ln_f_out"), d["frac_acc"]
    g = Golden(bundle)
    rng = np.random.default_rng(seed)
    real = g.run(first_images_for(bundle.config, n_cases // 2), bundle.config["reduction"]["mode"],
                 trace=True)
    last = real.trace[f"blocks.{g.m['depth'] - 1}.out"][:, 0]
    x_real, _ = g.ln("ln_f", last, "ln_f_out")
    x_rand = np.concatenate([random_int8(rng, (1, d["n_in"])) for _ in range(n_cases - len(x_real))])
    x = np.concatenate([x_real, x_rand]).astype(np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        with contextlib.redirect_stdout(sys.stderr):  # hls4ml reports on stdout
            hm = hls4ml_head(ckpt, Path(tmp))
            compile_s = time.time() - t0
            y = np.asarray(hm.predict(np.ascontiguousarray(x * 2.0 ** -f_in)), dtype=np.float64)
    y_int = np.rint(y * 2.0 ** f_acc)
    if np.abs(y_int - y * 2.0 ** f_acc).max() > 0:
        raise SievitError("hls4ml's head output is not on the accumulator's grid")
    y_int = y_int.astype(np.int64).reshape(len(x), d["n_out"])
    cases = CaseFile()
    for xi, yi in zip(x, y_int):
        cases.add(index, 1, xi, yi)
    exe, _ = compile_target(prj, "tb_engines")
    with tempfile.TemporaryDirectory(dir=prj / "build") as case_dir:
        cases.write(Path(case_dir) / "linear.bin")
        fw = prj / "firmware" / "weights"
        res, _ = run_testbench([str(exe), str(fw / "weights.bin"), str(fw / "biases.bin"), case_dir])
    golden_acc = g.lin("head", x, f_in)[0]
    return {"cases": len(x), "mismatches": res["engines"]["linear"]["mismatches"],
            "hls4ml_vs_golden_mismatches": int((golden_acc != y_int).any(axis=1).sum()),
            "hls4ml_compile_s": round(compile_s, 1)}
