#include "engine_tops.h"

using namespace sievit;

#define SIEVIT_STREAM_PORTS                  \
  SIEVIT_HLS(HLS INTERFACE axis port = in)   \
  SIEVIT_HLS(HLS INTERFACE axis port = out)

#define SIEVIT_MEM_PORTS                                              \
  SIEVIT_HLS(HLS INTERFACE m_axi port = weights offset = slave bundle = gmem_w) \
  SIEVIT_HLS(HLS INTERFACE m_axi port = biases offset = slave bundle = gmem_b)  \
  SIEVIT_HLS(HLS INTERFACE s_axilite port = return)

namespace {

// int32 row, 2 per beat, padded to a whole beat.
template <int MAX>
void write_i32(axis_t& out, const i64 v[MAX], int count, bool last) {
  for (int i = 0; i < count; i += kI32PerBeat) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX / 2)
    axis_write_i32_pair(out, v[i], i + 1 < count ? v[i + 1] : 0, last && i + kI32PerBeat >= count);
  }
}

template <int MAX>
void read_i32(axis_t& in, i64 v[MAX], int count) {
  for (int i = 0; i < count; i += kI32PerBeat) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX / 2)
    i64 second = 0;
    v[i] = axis_read_i32_pair(in, second);
    if (i + 1 < count) v[i + 1] = second;
  }
}

// attention / mlp message: the LN output rows, then the residual rows.
void read_block_inputs(axis_t& in, act_t h[cfg::max_n][cfg::max_w],
                       act_t x[cfg::max_n][cfg::max_w], int n) {
  axis_read_rows<cfg::max_n, cfg::max_w>(in, h, n, kModel.embed.lin.n_out, 0);
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, n, kModel.embed.lin.n_out, 0);
}

}  // namespace

void linear_top(axis_t& in, axis_t& out, int layer, int n, const wgt_t weights[kNumWeights],
                const bias_t biases[kNumBiases]) {
  SIEVIT_STREAM_PORTS
SIEVIT_HLS(HLS INTERFACE s_axilite port = layer)
SIEVIT_HLS(HLS INTERFACE s_axilite port = n)
  SIEVIT_MEM_PORTS
  static act_t x[cfg::max_n][cfg::max_w], res[cfg::max_n][cfg::max_w], y[cfg::max_n][cfg::max_w];
  static acc_t raw[cfg::max_n][cfg::max_w];
  static i64 flat[cfg::max_w];
  const linear_desc& d = kLinears[layer];
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, n, d.n_in, d.in_off);
  if (d.epi == kRaw) {
    linear_raw<cfg, cfg::max_w>(d, x, n, weights, biases, raw);
    for (int t = 0; t < n; ++t) {  // int32 rows, each padded to whole beats
      for (int o = 0; o < d.n_out; ++o) flat[o] = raw[t][o];
      write_i32<cfg::max_w>(out, flat, d.n_out, t == n - 1);
    }
    return;
  }
  if (d.epi == kResidual) axis_read_rows<cfg::max_n, cfg::max_w>(in, res, n, d.n_out, d.out_off);
  linear<cfg>(d, x, n, weights, biases, res, y);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, y, n, d.n_out, d.out_off, true);
}

void layernorm_top(axis_t& in, axis_t& out, int layer, int n, const wgt_t weights[kNumWeights],
                   const bias_t biases[kNumBiases]) {
  SIEVIT_STREAM_PORTS
SIEVIT_HLS(HLS INTERFACE s_axilite port = layer)
SIEVIT_HLS(HLS INTERFACE s_axilite port = n)
  SIEVIT_MEM_PORTS
  static act_t x[cfg::max_n][cfg::max_w], y[cfg::max_n][cfg::max_w];
  const layernorm_desc& d = kLayerNorms[layer];
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, n, d.dim, 0);
  layernorm<cfg>(d, x, n, weights, biases, y);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, y, n, d.dim, 0, true);
}

void softmax_top(axis_t& in, axis_t& out, int n, int frac) {
  SIEVIT_STREAM_PORTS
SIEVIT_HLS(HLS INTERFACE s_axilite port = n)
SIEVIT_HLS(HLS INTERFACE s_axilite port = frac)
SIEVIT_HLS(HLS INTERFACE s_axilite port = return)
  static i64 logits[cfg::max_n];
  static attn_prob_t probs[cfg::max_n];
  static act_t row[1][cfg::max_n];
  read_i32<cfg::max_n>(in, logits, n);
  softmax<cfg::max_n>(logits, n, frac, probs);
  for (int j = 0; j < n; ++j) row[0][j] = act_t(ap_int<8>(probs[j].range(7, 0)));  // raw bits
  axis_write_rows<1, cfg::max_n>(out, row, 1, n, 0, true);
}

void gelu_top(axis_t& in, axis_t& out, int n, int frac_in, int frac_out) {
  SIEVIT_STREAM_PORTS
SIEVIT_HLS(HLS INTERFACE s_axilite port = n)
SIEVIT_HLS(HLS INTERFACE s_axilite port = frac_in)
SIEVIT_HLS(HLS INTERFACE s_axilite port = frac_out)
SIEVIT_HLS(HLS INTERFACE s_axilite port = return)
  static act_t x[1][cfg::max_n * cfg::max_w], y[1][cfg::max_n * cfg::max_w];
  axis_read_rows<1, cfg::max_n * cfg::max_w>(in, x, 1, n, 0);
  gelu_vec<cfg::max_n * cfg::max_w>(x[0], n, frac_in, frac_out, y[0]);
  axis_write_rows<1, cfg::max_n * cfg::max_w>(out, y, 1, n, 0, true);
}

void attention_top(axis_t& in, axis_t& out, int block, int n, const wgt_t weights[kNumWeights],
                   const bias_t biases[kNumBiases]) {
  SIEVIT_STREAM_PORTS
SIEVIT_HLS(HLS INTERFACE s_axilite port = block)
SIEVIT_HLS(HLS INTERFACE s_axilite port = n)
  SIEVIT_MEM_PORTS
  static act_t h[cfg::max_n][cfg::max_w], x[cfg::max_n][cfg::max_w];
  read_block_inputs(in, h, x, n);
  attention<cfg>(kModel.attn[block], h, x, n, weights, biases, x);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, x, n, kModel.embed.lin.n_out, 0, true);
}

void mlp_top(axis_t& in, axis_t& out, int block, int n, const wgt_t weights[kNumWeights],
             const bias_t biases[kNumBiases]) {
  SIEVIT_STREAM_PORTS
SIEVIT_HLS(HLS INTERFACE s_axilite port = block)
SIEVIT_HLS(HLS INTERFACE s_axilite port = n)
  SIEVIT_MEM_PORTS
  static act_t h[cfg::max_n][cfg::max_w], x[cfg::max_n][cfg::max_w];
  read_block_inputs(in, h, x, n);
  mlp<cfg>(kModel.mlp[block], h, x, n, weights, biases, x);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, x, n, kModel.embed.lin.n_out, 0, true);
}

// in: x rows, ids (int32), and scores (int32) when score_in != 0 (decision only).
// out: (n_new, n_fused), scores (int32), new rows, new ids (int32).
void pruning_top(axis_t& in, axis_t& out, int stage, int n, int mode, int k, int score_in,
                 const wgt_t weights[kNumWeights], const bias_t biases[kNumBiases]) {
  SIEVIT_STREAM_PORTS
SIEVIT_HLS(HLS INTERFACE s_axilite port = stage)
SIEVIT_HLS(HLS INTERFACE s_axilite port = n)
SIEVIT_HLS(HLS INTERFACE s_axilite port = mode)
SIEVIT_HLS(HLS INTERFACE s_axilite port = k)
SIEVIT_HLS(HLS INTERFACE s_axilite port = score_in)
  SIEVIT_MEM_PORTS
  static act_t x[cfg::max_n][cfg::max_w], x_new[cfg::max_n][cfg::max_w];
  static tok_id_t ids[cfg::max_n], ids_new[cfg::max_n];
  static prob_t score[cfg::max_n];
  static i64 buf[cfg::max_n];
  const int dim = kModel.embed.lin.n_out;
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, n, dim, 0);
  read_i32<cfg::max_n>(in, buf, n);
  for (int t = 0; t < cfg::max_n; ++t) ids[t] = t < n ? tok_id_t(buf[t]) : tok_id_t(kEmptyId);
  if (score_in) {
    read_i32<cfg::max_n>(in, buf, n);
    for (int t = 0; t < n; ++t) score[t] = prob_t(buf[t]);
  } else {
    pruning_score<cfg>(kModel.sel[stage], x, n, weights, biases, score);
  }
  int fused = 0;
  const int n_new = pruning_select<cfg>(x, ids, n, score, mode, k, dim, x_new, ids_new, fused);
  axis_write_i32_pair(out, n_new, fused, false);
  for (int t = 0; t < n; ++t) buf[t] = score[t];
  write_i32<cfg::max_n>(out, buf, n, false);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, x_new, n_new, dim, 0, false);
  for (int t = 0; t < n_new; ++t) buf[t] = ids_new[t];
  write_i32<cfg::max_n>(out, buf, n_new, true);
}

void patch_embed_top(axis_t& in, axis_t& out, const wgt_t weights[kNumWeights],
                     const bias_t biases[kNumBiases]) {
  SIEVIT_STREAM_PORTS
  SIEVIT_MEM_PORTS
  static act_t raw[1][kImagePixels];
  static pixel_t image[kImagePixels];
  static act_t x[cfg::max_n][cfg::max_w];
  axis_read_rows<1, kImagePixels>(in, raw, 1, kImagePixels, 0);
  for (int p = 0; p < kImagePixels; ++p) image[p] = pixel_t(raw[0][p].range(7, 0));
  patch_embed<cfg>(kModel.embed, image, weights, biases, x);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, x, kMaxTokens, kModel.embed.lin.n_out, 0, true);
}

void head_top(axis_t& in, axis_t& out, const wgt_t weights[kNumWeights],
              const bias_t biases[kNumBiases]) {
  SIEVIT_STREAM_PORTS
  SIEVIT_MEM_PORTS
  static act_t x[cfg::max_n][cfg::max_w];
  static acc_t logits[cfg::max_classes];
  static i64 flat[cfg::max_classes];
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, 1, kModel.embed.lin.n_out, 0);
  head<cfg>(kModel.head, x, weights, biases, logits);
  for (int c = 0; c < kClasses; ++c) flat[c] = logits[c];
  write_i32<cfg::max_classes>(out, flat, kClasses, true);
}
