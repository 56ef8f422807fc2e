// Engine C-simulation testbench: drives each stand-alone engine top through its AXI4-Stream
// ports with the cases that `sievit csim --engines` wrote (golden intermediates from real
// images plus random and extreme ones) and compares every output bit for bit.
// usage: tb_engines WEIGHTS.bin BIASES.bin CASE_DIR. Prints one JSON line; exit 1 on mismatch.
#include <cstdio>
#include <string>
#include <vector>

#include "../firmware/engine_tops.h"
#include "tb_io.h"

using namespace sievit;
typedef std::vector<int> ivec;

static word_t weights[kNumWeightWords];
static word_t biases[kNumBiasWords];

namespace {

void push_i8(axis_t& s, const ivec& v, int rows, int cols) {
  for (int t = 0; t < rows; ++t) {
    for (int b = 0; b < beats_i8(cols); ++b) {
      axis_word w;
      w.data = 0;
      for (int l = 0; l < kI8PerBeat; ++l) {
        const int c = b * kI8PerBeat + l;
        if (c < cols) w.data.range(8 * l + 7, 8 * l) = ap_uint<8>(v[t * cols + c] & 0xFF);
      }
      w.keep = 0xFF;
      w.strb = 0xFF;
      w.last = 0;
      s.write(w);
    }
  }
}

void push_i32(axis_t& s, const ivec& v) {
  for (size_t i = 0; i < v.size(); i += 2) {
    axis_write_i32_pair(s, v[i], i + 1 < v.size() ? v[i + 1] : 0, false);
  }
}

// Pops rows of int8 (signed, or unsigned bytes when is_unsigned) and checks TLAST placement.
ivec pop_i8(axis_t& s, int rows, int cols, bool expect_last, bool is_unsigned, bool* bad_last) {
  ivec v(rows * cols);
  for (int t = 0; t < rows; ++t) {
    for (int b = 0; b < beats_i8(cols); ++b) {
      const axis_word w = s.read();
      const bool final_beat = t == rows - 1 && b == beats_i8(cols) - 1;
      if (bool(w.last) != (expect_last && final_beat)) *bad_last = true;
      for (int l = 0; l < kI8PerBeat; ++l) {
        const int c = b * kI8PerBeat + l;
        if (c >= cols) continue;
        const int byte = int(ap_uint<8>(w.data.range(8 * l + 7, 8 * l)));
        v[t * cols + c] = is_unsigned ? byte : (byte >= 128 ? byte - 256 : byte);
      }
    }
  }
  return v;
}

ivec pop_i32(axis_t& s, int count, bool expect_last, bool* bad_last) {
  ivec v(count);
  for (int i = 0; i < count; i += 2) {
    const bool final_beat = i + 2 >= count;
    const axis_word w = s.read();
    if (bool(w.last) != (expect_last && final_beat)) *bad_last = true;
    v[i] = int(ap_int<32>(w.data.range(31, 0)));
    if (i + 1 < count) v[i + 1] = int(ap_int<32>(w.data.range(63, 32)));
  }
  return v;
}

struct Tally {
  long cases = 0, mismatches = 0;
  void add(bool bad, const char* engine) {
    if (bad && mismatches == 0) std::fprintf(stderr, "tb: first %s mismatch at case %ld\n", engine, cases);
    ++cases;
    mismatches += bad;
  }
  // the same, and for the first mismatch the first differing element (csim.py parses it)
  void add(bool bad, const char* engine, const ivec& got, const ivec& expect) {
    if (bad && mismatches == 0) {
      std::size_t i = 0;
      while (i < got.size() && i < expect.size() && got[i] == expect[i]) ++i;
      if (i < got.size() && i < expect.size())
        std::fprintf(stderr, "tb: first %s difference at case %ld, element %zu: hls %d, golden %d\n",
                     engine, cases, i, got[i], expect[i]);
    }
    add(bad, engine);
  }
};

bool exists(const std::string& p) {
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (f) std::fclose(f);
  return f != nullptr;
}

const int kDim = kModel.embed.lin.n_out;

Tally run_linear(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    const int layer = r.i32(), n = r.i32();
    const linear_desc& d = kLinears[layer];
    axis_t in, out;
    push_i8(in, r.vec(long(n) * d.n_in), n, d.n_in);
    if (d.epi == kResidual) push_i8(in, r.vec(long(n) * d.n_out), n, d.n_out);
    const ivec expect = r.vec(long(n) * d.n_out);
    linear_top(in, out, layer, n, weights, biases);
    bool bad = false;
    ivec got;
    if (d.epi == kRaw) {  // int32 rows, each padded to whole beats
      for (int t = 0; t < n; ++t) {
        const ivec r = pop_i32(out, d.n_out, t == n - 1, &bad);
        got.insert(got.end(), r.begin(), r.end());
      }
    } else {
      got = pop_i8(out, n, d.n_out, true, false, &bad);
    }
    tally.add(bad || got != expect || !in.empty() || !out.empty(), "linear", got, expect);
  }
  return tally;
}

Tally run_layernorm(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    const int layer = r.i32(), n = r.i32();
    const int dim = kLayerNorms[layer].dim;
    axis_t in, out;
    push_i8(in, r.vec(long(n) * dim), n, dim);
    const ivec expect = r.vec(long(n) * dim);
    layernorm_top(in, out, layer, n, weights, biases);
    bool bad = false;
    const ivec got = pop_i8(out, n, dim, true, false, &bad);
    tally.add(bad || got != expect || !out.empty(), "layernorm", got, expect);
  }
  return tally;
}

Tally run_softmax(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    const int frac = r.i32(), n = r.i32();
    axis_t in, out;
    push_i32(in, r.vec(n));
    const ivec expect = r.vec(n);
    softmax_top(in, out, n, frac);
    bool bad = false;
    const ivec got = pop_i8(out, 1, n, true, true, &bad);
    tally.add(bad || got != expect || !out.empty(), "softmax", got, expect);
  }
  return tally;
}

Tally run_gelu(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    const int frac_in = r.i32(), frac_out = r.i32(), n = r.i32();
    axis_t in, out;
    push_i8(in, r.vec(n), 1, n);
    const ivec expect = r.vec(n);
    gelu_top(in, out, n, frac_in, frac_out);
    bool bad = false;
    const ivec got = pop_i8(out, 1, n, true, false, &bad);
    tally.add(bad || got != expect || !out.empty(), "gelu", got, expect);
  }
  return tally;
}

template <void (*TOP)(axis_t&, axis_t&, int, int, const word_t*, const word_t*)>
Tally run_block_engine(sievit_tb::Reader& r, const char* name) {
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    const int block = r.i32(), n = r.i32();
    axis_t in, out;
    push_i8(in, r.vec(long(n) * kDim), n, kDim);
    push_i8(in, r.vec(long(n) * kDim), n, kDim);
    const ivec expect = r.vec(long(n) * kDim);
    TOP(in, out, block, n, weights, biases);
    bool bad = false;
    const ivec got = pop_i8(out, n, kDim, true, false, &bad);
    tally.add(bad || got != expect || !out.empty(), name, got, expect);
  }
  return tally;
}

Tally run_pruning(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    const int stage = r.i32(), n = r.i32(), mode = r.i32(), k = r.i32(), score_in = r.i32();
    axis_t in, out;
    push_i8(in, r.vec(long(n) * kDim), n, kDim);
    push_i32(in, r.vec(n));
    if (score_in) push_i32(in, r.vec(n));
    const int n_new = r.i32(), fused = r.i32();
    const ivec e_score = r.vec(n), e_x = r.vec(long(n_new) * kDim), e_ids = r.vec(n_new);
    pruning_top(in, out, stage, n, mode, k, score_in, weights, biases);
    bool bad = false;
    const ivec head = pop_i32(out, 2, false, &bad);
    bad |= head[0] != n_new || head[1] != fused;
    bad |= pop_i32(out, n, false, &bad) != e_score;
    if (!bad) {
      bad |= pop_i8(out, n_new, kDim, false, false, &bad) != e_x;
      bad |= pop_i32(out, n_new, true, &bad) != e_ids;
    }
    tally.add(bad || !out.empty(), "pruning");
    while (!out.empty()) out.read();
  }
  return tally;
}

Tally run_patch_embed(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    axis_t in, out;
    push_i8(in, r.vec(kImagePixels), 1, kImagePixels);
    const ivec expect = r.vec(long(kMaxTokens) * kDim);
    patch_embed_top(in, out, weights, biases);
    bool bad = false;
    const ivec got = pop_i8(out, kMaxTokens, kDim, true, false, &bad);
    tally.add(bad || got != expect || !out.empty(), "patch_embed", got, expect);
  }
  return tally;
}

Tally run_head(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    axis_t in, out;
    push_i8(in, r.vec(kDim), 1, kDim);
    const ivec expect = r.vec(kClasses);
    head_top(in, out, weights, biases);
    bool bad = false;
    const ivec got = pop_i32(out, kClasses, true, &bad);
    tally.add(bad || got != expect || !out.empty(), "head", got, expect);
  }
  return tally;
}

// Reduction methods ------------------------------------------------------------------------
Tally run_attention_method(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    const int block = r.i32(), n = r.i32(), prop = r.i32(), head_on = r.i32(), chan = r.i32();
    const int heads = kModel.attn[block].heads, dh = kModel.attn[block].head_dim;
    axis_t in, out;
    push_i8(in, r.vec(long(n) * kDim), n, kDim);
    push_i8(in, r.vec(long(n) * kDim), n, kDim);
    push_i32(in, r.vec(n));
    if (chan & 1) {
      push_i32(in, r.vec(kDim));
      push_i32(in, r.vec(kDim));
    }
    if (chan & 2) push_i32(in, r.vec(kDim));
    ivec expect = r.vec(long(n) * kDim);
    for (const long len : {long(n), long(n), long(heads), long(n), long(n) * dh, long(n)}) {
      const ivec part = r.vec(len);
      expect.insert(expect.end(), part.begin(), part.end());
    }
    attention_method_top(in, out, block, n, prop, head_on, chan, weights, biases);
    bool bad = false;
    ivec got = pop_i8(out, n, kDim, false, false, &bad);
    int idx = 0;
    for (const int len : {n, n, heads, n, n * dh, n}) {
      const ivec part = pop_i32(out, len, idx == 5, &bad);
      got.insert(got.end(), part.begin(), part.end());
      ++idx;
    }
    tally.add(bad || got != expect || !in.empty() || !out.empty(), "attention_method", got, expect);
  }
  return tally;
}

Tally run_reduce(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  const int dh = kModel.attn[0].head_dim;
  for (int i = 0; i < cases; ++i) {
    const int method = r.i32(), n = r.i32(), k = r.i32(), rr = r.i32(), tau = r.i32();
    const int win_r = r.i32(), win_c = r.i32();
    axis_t in, out;
    push_i8(in, r.vec(long(n) * kDim), n, kDim);
    for (int part = 0; part < 4; ++part) push_i32(in, r.vec(n));  // ids, sizes, cum, score
    push_i32(in, r.vec(long(n) * dh));
    const int n_new = r.i32(), pooled = r.i32();
    ivec expect = {n_new, pooled};
    for (const long len : {long(n_new) * kDim, 3L * n_new}) {
      const ivec part = r.vec(len);
      expect.insert(expect.end(), part.begin(), part.end());
    }
    reduce_top(in, out, method, n, k, rr, tau, win_r, win_c);
    bool bad = false;
    ivec got = pop_i32(out, 2, false, &bad);
    if (got == ivec({n_new, pooled})) {
      const ivec rows = pop_i8(out, n_new, kDim, false, false, &bad);
      const ivec meta = pop_i32(out, 3 * n_new, true, &bad);
      got.insert(got.end(), rows.begin(), rows.end());
      got.insert(got.end(), meta.begin(), meta.end());
    }
    tally.add(bad || got != expect || !in.empty() || !out.empty(), "reduce", got, expect);
    while (!out.empty()) out.read();
  }
  return tally;
}

// CAIT's gate on the linear engine and its per-group top-k, called directly: block input
// rows -> raw logits and the QK, V (per head) and MLP-hidden masks.
Tally run_gate(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  const int dh = kModel.attn[0].head_dim;
  static act_t x[cfg::max_n][cfg::max_w];
  static acc_t logits[cfg::max_n][cfg::max_out];
  for (int i = 0; i < cases; ++i) {
    const int j = r.i32(), n = r.i32(), hid = r.i32(), c0 = r.i32(), c1 = r.i32(), c2 = r.i32();
    const ivec xv = r.vec(long(n) * kDim);
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < kDim; ++c) x[t][c] = xv[t * kDim + c];
    const ivec expect = r.vec(2 * dh + hid + 2 * dh + hid);
    cdcp_gate<cfg>(kModel.gate[j], x, n, weights, biases, logits);
    bool qk[cfg::max_w], v[cfg::max_w], mh[cfg::max_w];
    topk_channels<cfg::max_w>(logits[0], 0, dh, c0, qk);
    topk_channels<cfg::max_w>(logits[0], dh, dh, c1, v);
    topk_channels<cfg::max_w>(logits[0], 2 * dh, hid, c2, mh);
    ivec got;
    for (int c = 0; c < 2 * dh + hid; ++c) got.push_back(int(logits[0][c]));
    for (int c = 0; c < dh; ++c) got.push_back(qk[c]);
    for (int c = 0; c < dh; ++c) got.push_back(v[c]);
    for (int c = 0; c < hid; ++c) got.push_back(mh[c]);
    tally.add(got != expect, "gate", got, expect);
  }
  return tally;
}

// PRANCE's actor on the linear engine, called directly: one stage's K rows -> its choices.
Tally run_actor(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  typename score_types<cfg>::ksum_t ksum[cfg::max_n];
  for (int i = 0; i < cases; ++i) {
    const int stage = r.i32(), n = r.i32();
    const ivec k = r.vec(long(n) * kDim);
    const ivec expect = r.vec(kPranceOutputs);
    for (int t = 0; t < n; ++t) {
      ksum[t] = 0;
      for (int c = 0; c < kDim; ++c) ksum[t] += k[t * kDim + c];
    }
    int pick[kPranceOutputs];
    prance_actor<cfg>(kModel.actor[stage], kModel.red, stage, ksum, n, kMaxTokens, kDim, weights,
                      biases, pick);
    const ivec got(pick, pick + kPranceOutputs);
    tally.add(got != expect, "actor", got, expect);
  }
  return tally;
}

// The mlp engine with a hidden-channel mask (CAIT's gate, PRANCE's MLP width) and an
// embedding mask (PRANCE's width: input and output channels), called directly.
Tally run_mlp_masked(sievit_tb::Reader& r) {
  Tally tally;
  const int cases = r.i32();
  static act_t h[cfg::max_n][cfg::max_w], x1[cfg::max_n][cfg::max_w], y[cfg::max_n][cfg::max_w];
  for (int i = 0; i < cases; ++i) {
    const int block = r.i32(), n = r.i32(), hid = kModel.mlp[block].fc1.n_out;
    const ivec hv = r.vec(long(n) * kDim), xv = r.vec(long(n) * kDim), mask = r.vec(hid);
    const ivec emb = r.vec(kDim);
    const ivec expect = r.vec(long(n) * kDim);
    bool on[cfg::max_w], emb_on[cfg::max_w];
    for (int c = 0; c < hid; ++c) on[c] = mask[c] != 0;
    for (int c = 0; c < kDim; ++c) emb_on[c] = emb[c] != 0;
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < kDim; ++c) {
        h[t][c] = hv[t * kDim + c];
        x1[t][c] = xv[t * kDim + c];
      }
    mask_channels<cfg>(h, n, kDim, emb_on);  // as model_reduce does with LN2's output
    mlp_m<cfg>(kModel.mlp[block], h, x1, n, weights, biases, y, true, on, emb_on);
    ivec got;
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < kDim; ++c) got.push_back(int(y[t][c]));
    tally.add(got != expect, "mlp_masked", got, expect);
  }
  return tally;
}

// CP-ViT's head choice is a few comparators in the model's controller: called directly.
Tally run_head_mask(sievit_tb::Reader& r) {
  typedef score_types<cfg> ST;
  Tally tally;
  const int cases = r.i32();
  for (int i = 0; i < cases; ++i) {
    const int heads = r.i32(), pruned = r.i32();
    const ivec mass = r.vec(heads), expect = r.vec(heads);
    typename ST::mass_t m[cfg::max_heads];
    for (int h = 0; h < cfg::max_heads; ++h) m[h] = h < heads ? mass[h] : 0;
    bool on[cfg::max_heads];
    cpvit_head_mask<cfg>(m, heads, pruned, on);
    ivec got(heads);
    for (int h = 0; h < heads; ++h) got[h] = on[h] ? 1 : 0;
    tally.add(got != expect, "head_mask", got, expect);
  }
  return tally;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s WEIGHTS BIASES CASE_DIR\n", argv[0]);
    return 2;
  }
  if (!sievit_tb::pack_memories(argv[1], argv[2], weights, kNumWeightWords, biases, kNumBiasWords)) {
    std::fprintf(stderr, "tb: weight/bias files do not match parameters.h\n");
    return 3;
  }
  const std::string dir = argv[3];
  struct Entry {
    const char* name;
    Tally (*run)(sievit_tb::Reader&);
  };
  static const Entry entries[] = {
      {"linear", run_linear},
      {"layernorm", run_layernorm},
      {"softmax", run_softmax},
      {"gelu", run_gelu},
      {"attention", [](sievit_tb::Reader& r) { return run_block_engine<attention_top>(r, "attention"); }},
      {"mlp", [](sievit_tb::Reader& r) { return run_block_engine<mlp_top>(r, "mlp"); }},
      {"pruning", run_pruning},
      {"patch_embed", run_patch_embed},
      {"head", run_head},
      {"attention_method", run_attention_method},
      {"reduce", run_reduce},
      {"head_mask", run_head_mask},
      {"gate", run_gate},
      {"mlp_masked", run_mlp_masked},
      {"actor", run_actor},
  };
  long total = 0;
  std::printf("{\"engines\": {");
  bool first = true;
  for (const Entry& e : entries) {
    const std::string path = dir + "/" + e.name + ".bin";
    if (!exists(path)) continue;
    sievit_tb::Reader r(path.c_str());
    const Tally t = e.run(r);
    std::printf("%s\"%s\": {\"cases\": %ld, \"mismatches\": %ld}", first ? "" : ", ", e.name,
                t.cases, t.mismatches);
    first = false;
    total += t.mismatches;
  }
  std::printf("}, \"mismatches\": %ld}\n", total);
  return total ? 1 : 0;
}
