"""Where a mismatching RTL run first left the golden model: the descriptor (engine and
block), the buffer it wrote and the first differing element.

The harness's `+trace_writes=FILE` (rtl/sim/sievit_top_tb.sv) logs every beat an engine
hands to the top's buffers or result stream: `W <pc> <opcode> <sink> <segment> <count> <hex>`.
Each descriptor's writes are unpacked into the tensor its engine produced and compared with
the golden model's intermediate for the same image (Golden.run(..., trace=True)), in program
order; the first descriptor whose tensor differs is the engine that made the difference."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sievit.rtl.cosim import _first_unequal  # (index, got, want); None past an end
from sievit.rtl.schema import BUFFERS, DESC_WORDS, OPS

OP_NAME = {op.code: name for name, op in OPS.items()}
# the engine each opcode runs (one name per engine: golden, HLS, RTL and tests)
ENGINE = {name: op.engine for name, op in OPS.items()}
SINK = {code: name for name, code in BUFFERS.items()}   # sievit_top's B_* codes
WIDE_OPS = ("attn", "mlp")  # engines on the BEAT-wide streams; the others are 64-bit
GAP = int(np.iinfo(np.int64).min)  # elements of a beat never written
_LINE = re.compile(r"^W (\d+) (\d+) (\d+) (\d+) (\d+) ([0-9a-fA-F]+)$", re.M)


@dataclass(frozen=True)
class Label:
    """One descriptor of a program: its opcode name and block (or selector stage) index."""
    op: str
    index: int | None = None

    def __str__(self) -> str:
        if self.op in ("score", "prune"):
            return f"{ENGINE[self.op]} stage {self.index}"
        return f"{ENGINE[self.op]}" + (f" of block {self.index}" if self.op in ("attn", "mlp") else "")


def descriptor_labels(program: np.ndarray) -> list[Label]:
    """What each descriptor of a program computes, read from its opcodes (the program is
    embed, then per block [score, prune] attn mlp (each with its LayerNorm in front), then
    head and end)."""
    labels, block, stage = [], 0, 0
    for d in program:
        op = OP_NAME[int(d[0])]
        if op in ("attn", "mlp"):
            labels.append(Label(op, block))
            block += op == "mlp"
        elif op in ("score", "prune"):
            labels.append(Label(op, stage))
            stage += op == "prune"
        else:
            labels.append(Label(op))
    return labels


def parse_writes(text: str, prog_addr: int, beat_bits: int) -> dict[tuple[int, str], dict[int, int]]:
    """{(descriptor index, sink): {beat count: beat value}} from a +trace_writes log. The
    controller's pc already points past the running descriptor. Narrow engines' beats are
    the low 64 bits of the logged word."""
    out: dict[tuple[int, str], dict[int, int]] = {}
    for pc, op, sink, _seg, cnt, data in _LINE.findall(text):
        k = (int(pc) - prog_addr) // (DESC_WORDS * 4) - 1
        value = int(data, 16)
        if OP_NAME[int(op)] not in WIDE_OPS:
            value &= (1 << 64) - 1
        out.setdefault((k, SINK[int(sink)]), {})[int(cnt)] = value
    return out


def _unpack(beats: dict[int, int], bits: int, elem_bits: int) -> np.ndarray:
    """Signed elements of consecutive beats 0..max; a beat never written in between reads
    as GAP."""
    if not beats:
        return np.zeros(0, dtype=np.int64)
    per = bits // elem_bits
    n = max(beats) + 1
    vals = np.full(n * per, GAP, dtype=np.int64)
    for i, word in beats.items():
        for j in range(per):
            v = (word >> (elem_bits * j)) & ((1 << elem_bits) - 1)
            vals[i * per + j] = v - (1 << elem_bits) if v >> (elem_bits - 1) else v
    return vals


def _rows(gold, b: int, sel_blocks: list[int], block: int | None = None,
          stage: int | None = None, after_block: bool = False) -> int:
    """Live tokens of image b entering `block` (or selector `stage`): the count after the
    last stage that ran before it, else all tokens. HeatViT's stages run before their
    block; EViT's inside it, after the attention (`after_block`: its LN2 / MLP rows)."""
    ran = gold.tokens_per_stage.shape[1]
    before = [s for s in range(ran) if (s < stage if stage is not None else
                                        sel_blocks[s] < block or (sel_blocks[s] == block
                                                                  and after_block))]
    return int(gold.tokens_per_stage[b, before[-1]]) if before else int(gold.trace["embed_out"].shape[1])


def expected_outputs(label: Label, gold, b: int, sel_blocks: list[int],
                     method: str = "heatvit") -> dict[str, np.ndarray]:
    """The golden tensors (flattened, per sink) that one descriptor's engine must write for
    image b (gold: Golden.run(..., trace=True)): int8 rows into X / H, int32 scores, the new
    token count and ids of a pruning stage, the logits."""
    t = lambda key: np.asarray(gold.trace[key][b])  # noqa: E731
    inside = method in ("evit", "cpvit")   # their stages run inside the block
    if label.op == "embed":
        return {"X": t("embed_out").ravel()}
    if label.op in ("attn", "mlp"):
        key = {"attn": "res1", "mlp": "out"}[label.op]
        after = not inside or label.op == "mlp"
        rows = _rows(gold, b, sel_blocks, block=label.index, after_block=after)
        out = {"X": t(f"blocks.{label.index}.{key}")[:rows].ravel()}
        if method == "evit" and label.op == "attn" and label.index in sel_blocks:
            cls = t(f"blocks.{label.index}.attn_probs")[:, 0, :rows].sum(axis=0)
            cls[0] = 0                                                # rd.cls_attention
            out["SC"] = cls
        if method == "cpvit" and label.op == "attn" and label.index <= max(sel_blocks):
            out["SC"] = t(f"blocks.{label.index}.cum")[:rows]     # rd.cpvit_accumulate
        return out
    if label.op == "prune" and inside:
        s, blk = label.index, sel_blocks[label.index]
        n_new = int(gold.tokens_per_stage[b, s])
        out = {"HDR": np.array([n_new]), "X": t(f"blocks.{blk}.mlp_in")[:n_new].ravel(),
               "IDS": t(f"stage{s}.out_ids")[:n_new]}
        if method == "cpvit":  # the kept rows' cumulative scores, back to SC
            out["SC"] = t(f"stage{s}.out_cum")[:n_new]
        return out
    if label.op == "score":
        rows = _rows(gold, b, sel_blocks, stage=label.index)
        return {"SC": t(f"selectors.{label.index}.score")[:rows]}
    if label.op == "prune":
        s = label.index
        n_new = int(gold.tokens_per_stage[b, s])
        kept = [int(i) for i in gold.kept[s][b]]
        ids = kept + [-1] * (n_new - len(kept))  # the package token follows the kept ones
        return {"HDR": np.array([n_new]), "X": t(f"selectors.{s}.out")[:n_new].ravel(),
                "IDS": np.array(ids, dtype=np.int64)}
    if label.op == "head":
        return {"OUT": np.asarray(gold.logits[b])}
    return {}


def _got(sink: str, beats: dict[int, int], op: str, beat_bits: int, want_len: int) -> np.ndarray:
    if sink in ("X", "H"):
        vals = _unpack(beats, beat_bits if op in WIDE_OPS else 64, 8)
    elif sink == "HDR":
        vals = np.array([beats[0] & 0xFFFFFFFF]) if 0 in beats else np.zeros(0, dtype=np.int64)
    else:
        vals = _unpack(beats, 64, 32)
    return vals[:want_len]


def first_differing_descriptor(trace_text: str, program: np.ndarray, prog_addr: int,
                               beat_bits: int, gold, sel_blocks: list[int],
                               b: int = 0, method: str = "heatvit") -> dict | None:
    """The first descriptor (in program order) whose engine wrote something other than the
    golden intermediate for image b (gold: Golden.run(..., trace=True)): its index, engine,
    what it computes, the buffer, the first differing element (flat, and as [row, column] for token buffers) and both values.
    None when every descriptor's output equals golden."""
    writes = parse_writes(trace_text, prog_addr, beat_bits)
    dim = int(program[0][1])
    for k, label in enumerate(descriptor_labels(program)):
        for sink, want in expected_outputs(label, gold, b, sel_blocks, method).items():
            got = _got(sink, writes.get((k, sink), {}), label.op, beat_bits, len(want))
            if np.array_equal(got, want):
                continue
            i, rtl, golden = _first_unequal(got, want)
            rtl = None if rtl == GAP else rtl  # a beat the engine never wrote
            out = {"descriptor": k, "engine": ENGINE[label.op], "computes": str(label),
                   "buffer": sink, "element": i, "rtl": rtl, "golden": golden}
            if sink in ("X", "H"):
                out["row"], out["column"] = divmod(i, dim)
            return out
    return None


def describe_descriptor(d: dict) -> str:
    """One line for stderr naming the engine that first differs."""
    where = f"[{d['row']}, {d['column']}]" if "row" in d else f"[{d['element']}]"
    return (f"[cosim] first differing engine: descriptor {d['descriptor']} ({d['computes']}), "
            f"buffer {d['buffer']}{where}: RTL {d['rtl']}, golden {d['golden']}")
