"""The RTL program's one schema: opcodes, descriptor fields and their word indices, pruning
modes, epilogue codes and buffer (sink) codes of `sievit_top`.

Everything else is generated from it: the SystemVerilog constants in the marked region of
rtl/sievit_pkg.sv (`localparam`s that sievit_top indexes descriptors with), the descriptor
table in docs/numerics.md ("RTL program"), and the Python encoder that rtl/program.py writes
descriptors with (`encode`: fields by name, every field exactly once). A test fails when a
generated region is stale; `python -m sievit.rtl.schema --write` regenerates both.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sievit.errors import SievitError
from sievit.layout import EPI
from sievit.quant.contract import LOG_SIZE_FRAC
from sievit.quant.reduce import log_size_table

DESC_WORDS = 64          # 32-bit words per descriptor (fetched as 64-bit beats)
SEL_MAXH = 4             # selector heads a `score` descriptor holds
LOG_SIZE_MAX = 255       # proportional attention: token sizes the ln table covers


@dataclass(frozen=True)
class Field:
    """One descriptor field: `count` consecutive words (an array when count > 1); `frac`
    fields are read as the word's low 8 bits, two's complement."""
    name: str
    doc: str
    count: int = 1
    frac: bool = False


@dataclass(frozen=True)
class Op:
    code: int
    engine: str
    fields: tuple[Field, ...]
    stream_in: str
    stream_out: str


def _frac(name: str, doc: str, count: int = 1) -> Field:
    return Field(name, doc, count, frac=True)


# the LayerNorm in front of attention (LN1) and the MLP (LN2): the op streams its X rows
# through it, and the controller reads γ and β ahead, with the descriptor
_LN_FIELDS = (Field("ln_g", "LayerNorm γ byte address"), Field("ln_b", "LayerNorm β byte address"),
              _frac("ln_gamma_frac", "LayerNorm γ frac"), _frac("ln_frac_out", "LayerNorm output frac"))

OPS: dict[str, Op] = {
    "end": Op(0, "—", (), "—", "`done`"),
    "embed": Op(1, "patch_embed", (
        Field("image_size", "image side in pixels"), Field("patch", "patch side"),
        Field("chans", "input channels"), Field("grid", "patches per side"),
        Field("tokens", "tokens after embedding (grid² + 1)"),
        Field("cls", "CLS token byte address"), Field("pos", "position rows byte address"),
        Field("w", "patch projection weights (rows zero-padded to whole stream words)"), Field("b", "its biases"),
        _frac("frac_acc", "accumulator frac"), _frac("frac_cls", "CLS frac"),
        _frac("frac_pos", "position frac"), _frac("frac_out", "output frac"),
        Field("wlist", "the shared array's weight list: per GEMM in call order w, b, "
                       "n_in | n_out << 16, 0; ended by n_out = 0"),
        Field("sc_init", "the value every SC entry starts at: 0 (CP-ViT's cumulative "
                         "scores), 1 (ToMe's token sizes)")),
        "image (top `s_axis`)", "X; `n` = tokens, ids 0…n−1"),
    "attn": Op(3, "attention", (
        Field("heads", "heads"), Field("head_dim", "head width"),
        Field("w", "weights of q, k, v, proj", 4), Field("b", "biases of q, k, v, proj", 4),
        _frac("frac_acc", "accumulator fracs of q, k, v, proj", 4),
        _frac("frac_out", "output fracs of q, k, v, proj", 4),
        _frac("frac_res", "the block input's frac (proj residual)"),
        _frac("frac_s", "logits frac: frac(q) + frac(k)"), _frac("frac_v", "v frac"),
        _frac("frac_attn_out", "head concat frac"),
        Field("score_out", "score source after the rows: 0 none, 1 EViT Σ_h A_h[0, j] to SC, "
                           "2 CP-ViT cum_j + Σ_h max_i A_h[i, j] to SC (reads cum from SC), "
                           "3 ToMe: reads the token sizes from SC, adds ln(size_j) to every "
                           "logit of key j, writes the unit keys to U; 4 PPT: as 3, then "
                           "each row's score (Σ_h A_h[0, j]) · isqrt(Σ_c v_jc²) to U after "
                           "the unit keys; 5: proportional attention only (as 3, nothing "
                           "written)"),
        Field("head_reset", "CP-ViT: clear the per-head mass first"),
        Field("head_track", "CP-ViT: add each head's mass Σ_j≥1 max_i A_h[i, j]"),
        Field("head_select", "CP-ViT: > 0: prune this many heads of least mass from now on"),
        Field("head_apply", "CP-ViT: pruned heads skip Q·Kᵀ, softmax, A·V; their channels 0"),
        *_LN_FIELDS),
        "X through LN1, then X; with score_out 2 to 5, then SC",
        "X; with score_out 1 or 2, then SC; with 3, then U (unit keys); with 4, then U "
        "(unit keys, then PPT scores)"),
    "mlp": Op(4, "mlp", (
        Field("hidden", "hidden width"), Field("fc1_w", "fc1 weights"), Field("fc1_b", "fc1 biases"),
        _frac("fc1_frac_acc", "fc1 accumulator frac"), _frac("fc1_frac_gelu_in", "GELU input frac"),
        _frac("fc1_frac_out", "fc1 output frac"), Field("fc2_w", "fc2 weights"),
        Field("fc2_b", "fc2 biases"), _frac("fc2_frac_acc", "fc2 accumulator frac"),
        _frac("fc2_frac_res", "residual frac"), _frac("fc2_frac_out", "output frac"),
        *_LN_FIELDS), "X through LN2, then X", "X"),
    "score": Op(5, "pruning_score", (
        Field("heads", "selector heads"), Field("hid", "hidden width per head"),
        Field("ln_g", "LN γ"), Field("ln_b", "LN β"), _frac("ln_gamma_frac", "LN γ frac"),
        _frac("ln_frac_out", "LN output frac"), _frac("local_in", "local GELU input frac"),
        _frac("local_out", "local output frac"), _frac("mlp1_in", "mlp1 GELU input frac"),
        _frac("mlp1_out", "mlp1 output frac"), Field("hw_w", "head-weight layer weights"),
        Field("hw_b", "its biases"), _frac("hw_frac_acc", "its accumulator frac"),
        Field("w", f"weights per head × (local, mlp1, mlp2), {SEL_MAXH} heads", 3 * SEL_MAXH),
        Field("b", "biases, same order", 3 * SEL_MAXH),
        _frac("frac_acc", "accumulator fracs, same order", 3 * SEL_MAXH)), "X", "SC"),
    "prune": Op(6, "pruning", (
        Field("mode", "decision: 1 threshold, 2 top-k (HeatViT), 3 EViT top-k + fuse, "
                      "4 drop (CP-ViT top-k, scores travel with the rows)"),
        Field("k", "top-k modes: candidates kept"),
        Field("heads", "EViT: heads (the fused token's divisor is heads · 2⁸)")),
        "X, IDS, SC", "header → top `m_axis`; scores dropped (mode 4: the kept rows' → SC); rows → "
        "X; ids → IDS and top `m_axis`; `n` = n_new"),
    "merge": Op(2, "bipartite_merge", (
        Field("r", "merges per image: r_img = min(r, (n − 1) // 2)"),
        Field("head_dim", "unit-key width"),
        Field("ppt", "1: PPT, per image: pool (this merge) where the variance of the "
                     "normalised scores is below τ, else drop the r_img lowest-scored rows"),
        Field("tau", "PPT: round(min(τ, 1) · 2⁴⁰), low and high word", 2)),
        "X, IDS, SC (sizes), U (unit keys; PPT: then the scores)",
        "header → top `m_axis`; sizes → SC; rows → X; ids → IDS and "
        "top `m_axis`; `n` = n_new"),
    "head": Op(7, "head", (
        Field("classes", "classes"), Field("g", "LN γ"), Field("b", "LN β"),
        _frac("gamma_frac", "LN γ frac"), _frac("ln_frac_out", "LN output frac"),
        Field("w", "classifier weights"), Field("fc_b", "classifier biases"),
        _frac("frac_acc", "accumulator frac")), "X row 0 (CLS)", "logits → top `m_axis` (TLAST)"),
}
PRUNE_MODES = {"threshold": 1, "topk": 2, "evit": 3, "drop": 4}
# sievit_top's stream sources / sinks
BUFFERS = {"X": 0, "U": 1, "IDS": 2, "SC": 3, "HDR": 4, "DROP": 5, "OUT": 6}
FIRST_FIELD_WORD = 2     # word 0: opcode, word 1: model width


def word_index() -> dict[str, dict[str, int]]:
    """{op: {field: first word}}: fields follow each other from word 2."""
    out = {}
    for name, op in OPS.items():
        w, out[name] = FIRST_FIELD_WORD, {}
        for f in op.fields:
            out[name][f.name] = w
            w += f.count
        if w > DESC_WORDS:
            raise AssertionError(f"op {name} needs {w} words (> {DESC_WORDS})")
    return out


WORD = word_index()


def encode(op: str, dim: int, values: dict[str, int | list[int]]) -> np.ndarray:
    """One descriptor: opcode, width and every field of `op` by name (arrays may be shorter
    than their count; the rest is 0). Unknown or missing fields raise."""
    spec = OPS[op]
    names = {f.name for f in spec.fields}
    unknown, missing = set(values) - names, names - set(values)
    if unknown or missing:
        raise SievitError(f"descriptor {op}: unknown fields {sorted(unknown)}, missing "
                          f"{sorted(missing)}")
    d = np.zeros(DESC_WORDS, dtype=np.uint32)
    d[0], d[1] = spec.code, dim
    for f in spec.fields:
        v = values[f.name]
        vals = list(v) if isinstance(v, (list, tuple)) else [v]
        if len(vals) > f.count or (f.count == 1 and len(vals) != 1):
            raise SievitError(f"descriptor {op}.{f.name}: {len(vals)} values for {f.count} words")
        for i, x in enumerate(vals):
            d[WORD[op][f.name] + i] = int(x) & 0xFFFFFFFF
    return d


def field(desc: np.ndarray, op: str, name: str, i: int = 0) -> int:
    """Field `name` (element i) of a descriptor, as written (unsigned 32-bit)."""
    return int(desc[WORD[op][name] + i])


# -- generated text ---------------------------------------------------------------------
SV_BEGIN = "  // BEGIN generated by rtl/schema.py (python -m sievit.rtl.schema --write)"
SV_END = "  // END generated by rtl/schema.py"
MD_BEGIN = "<!-- BEGIN generated by rtl/schema.py -->"
MD_END = "<!-- END generated by rtl/schema.py -->"


def _sv_name(op: str, field_name: str) -> str:
    return f"D_{op.upper()}_{field_name.upper()}"


def render_sv() -> str:
    """The constants region of sievit_pkg.sv."""
    lines = [SV_BEGIN, "  /* verilator lint_off UNUSEDPARAM */",
             f"  localparam int DESC_WORDS = {DESC_WORDS};",
             f"  localparam int SEL_MAXH = {SEL_MAXH};",
             f"  localparam int LOG_SIZE_FRAC = {LOG_SIZE_FRAC};   // proportional attention's ln table",
             "  // opcodes (descriptor word 0)"]
    lines += [f"  localparam logic [7:0] OP_{n.upper()} = 8'd{op.code};" for n, op in OPS.items()]
    lines.append("  // pruning decisions (prune.mode)")
    lines += [f"  localparam logic [2:0] PRUNE_{n.upper()} = 3'd{c};" for n, c in PRUNE_MODES.items()]
    lines.append("  // linear write-back epilogues")
    lines += [f"  localparam int EPI_{n.upper()} = {c};" for n, c in EPI.items()]
    lines.append("  // buffers: stream sources / sinks of sievit_top")
    lines += [f"  localparam logic [2:0] B_{n} = 3'd{c};" for n, c in BUFFERS.items()]
    lines.append("  // descriptor word of each field (word 1: model width)")
    for name, op in OPS.items():
        for f in op.fields:
            lines.append(f"  localparam int {_sv_name(name, f.name)} = {WORD[name][f.name]};")
    lines.append("  /* verilator lint_on UNUSEDPARAM */")
    lines += _render_log_size()
    lines.append(SV_END)
    return "\n".join(lines)


def _render_log_size() -> list[str]:
    """Proportional attention's ROM: round(ln(s) * 2^LOG_SIZE_FRAC) for s = 1..LOG_SIZE_MAX
    (quant.reduce.log_size_table; s = 0 reads as s = 1)."""
    tab = log_size_table(LOG_SIZE_MAX)
    lines = [f"  // round(ln(s) * 2^{LOG_SIZE_FRAC}), s = 0 read as 1 (quant/reduce.py log_size_table)",
             "  function automatic logic [19:0] log_size(input logic [7:0] s);",
             "    case (s)"]
    lines += [f"      8'd{s}: log_size = 20'd{int(tab[s])};" for s in range(2, LOG_SIZE_MAX + 1)]
    lines += ["      default: log_size = 20'd0;", "    endcase", "  endfunction"]
    return lines


def render_md() -> str:
    """The descriptor table of docs/numerics.md."""
    rows = [MD_BEGIN, "| op | engine | fields (word: name) | stream in (from) | stream out (to) |",
            "|---|---|---|---|---|"]
    order = [n for n in OPS if n != "end"] + ["end"]
    for name in order:
        op = OPS[name]
        parts = []
        for f in op.fields:
            w = WORD[name][f.name]
            span = f"{w}" if f.count == 1 else f"{w}–{w + f.count - 1}"
            parts.append(f"{span}: `{f.name}`{'[' + str(f.count) + ']' if f.count > 1 else ''} "
                         f"({f.doc}{', low 8 bits' if f.frac else ''})")
        rows.append(f"| {op.code} `{name}` | `{op.engine}` | {'; '.join(parts) or '—'} | "
                    f"{op.stream_in} | {op.stream_out} |")
    rows += ["", "Pruning modes: " + ", ".join(f"{c} `{n}`" for n, c in PRUNE_MODES.items())
             + ". Epilogues: " + ", ".join(f"{c} `{n}`" for n, c in EPI.items()) + ".", MD_END]
    return "\n".join(rows)


def _region(text: str, begin: str, end: str) -> tuple[int, int]:
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise SievitError(f"generated region markers {begin!r} / {end!r} not found")
    return i, j + len(end)


TARGETS = {"rtl/sievit_pkg.sv": (SV_BEGIN, SV_END, render_sv),
           "docs/numerics.md": (MD_BEGIN, MD_END, render_md)}


def stale(root: Path) -> list[str]:
    """Generated files under `root` whose region differs from the schema."""
    out = []
    for rel, (b, e, render) in TARGETS.items():
        text = (root / rel).read_text()
        i, j = _region(text, b, e)
        if text[i:j] != render():
            out.append(rel)
    return out


def write(root: Path) -> list[str]:
    """Regenerate the regions; returns the files that changed."""
    changed = []
    for rel, (b, e, render) in TARGETS.items():
        path = root / rel
        text = path.read_text()
        i, j = _region(text, b, e)
        new = text[:i] + render() + text[j:]
        if new != text:
            path.write_text(new)
            changed.append(rel)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sievit.rtl.schema", description=__doc__.split("\n")[0])
    p.add_argument("--write", action="store_true", help="regenerate the generated regions")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    a = p.parse_args(argv)
    if a.write:
        print("\n".join(write(a.root)) or "up to date")
        return 0
    bad = stale(a.root)
    if bad:
        print("stale: " + ", ".join(bad) + " (python -m sievit.rtl.schema --write)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
