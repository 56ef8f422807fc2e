// Each top is a DATAFLOW region of three processes: read the input message from the stream,
// compute, write the output message. The buffers between them become ping-pong memories,
// so consecutive calls overlap (the next message is read while this one is computed). The
// buffers are locals of the region (not static), as DATAFLOW channels must be.
#include "engine_tops.h"

using namespace sievit;

typedef act_t rows_t[cfg::max_n][cfg::max_w];

namespace {

const int kDim = kModel.embed.lin.n_out;

// int32 row, 2 per beat, padded to a whole beat.
template <int MAX>
void write_i32(axis_t& out, const ap_int<32> v[MAX], int count, bool last) {
  for (int i = 0; i < count; i += kI32PerBeat) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = (MAX + 1) / 2
#pragma HLS PIPELINE II = 1
    axis_write_i32_pair(out, v[i], i + 1 < count ? v[i + 1] : ap_int<32>(0),
                        last && i + kI32PerBeat >= count);
  }
}

template <int MAX>
void read_i32(axis_t& in, ap_int<32> v[MAX], int count) {
  for (int i = 0; i < count; i += kI32PerBeat) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = (MAX + 1) / 2
#pragma HLS PIPELINE II = 1
    ap_int<32> second = 0;
    v[i] = axis_read_i32_pair(in, second);
    if (i + 1 < count) v[i + 1] = second;
  }
}

// -- linear ----------------------------------------------------------------------------------
void linear_read(axis_t& in, int layer, int n, rows_t x, rows_t res) {
  const linear_desc& d = kLinears[layer];
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, n, d.n_in, d.in_off);
  if (d.epi == kResidual) axis_read_rows<cfg::max_n, cfg::max_w>(in, res, n, d.n_out, d.out_off);
}

void linear_compute(int layer, int n, const rows_t x, const rows_t res, const word_t* weights,
                    const word_t* biases, rows_t y, acc_t raw[cfg::max_n][cfg::max_out]) {
  const linear_desc& d = kLinears[layer];
  if (d.epi == kRaw) {
    linear_raw<cfg, cfg::max_out>(d, x, n, weights, biases, raw);
  } else {
    linear<cfg>(d, x, n, weights, biases, res, y);
  }
}

void linear_write(axis_t& out, int layer, int n, const rows_t y,
                  const acc_t raw[cfg::max_n][cfg::max_out]) {
  const linear_desc& d = kLinears[layer];
  if (d.epi != kRaw) {
    axis_write_rows<cfg::max_n, cfg::max_w>(out, y, n, d.n_out, d.out_off, true);
    return;
  }
  for (int t = 0; t < n; ++t) {  // int32 rows, each padded to whole beats
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    write_i32<cfg::max_out>(out, raw[t], d.n_out, t == n - 1);
  }
}

// -- attention / mlp: the LN output rows, then the residual rows -----------------------------
void block_read(axis_t& in, int n, rows_t h, rows_t x) {
  axis_read_rows<cfg::max_n, cfg::max_w>(in, h, n, kDim, 0);
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, n, kDim, 0);
}

void rows_write(axis_t& out, int n, const rows_t y) {
  axis_write_rows<cfg::max_n, cfg::max_w>(out, y, n, kDim, 0, true);
}

// -- pruning -------------------------------------------------------------------------------
void pruning_read(axis_t& in, int n, int score_in, rows_t x, tok_id_t ids[cfg::max_n],
                  ap_int<32> score_buf[cfg::max_n]) {
  ap_int<32> buf[cfg::max_n];
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, n, kDim, 0);
  read_i32<cfg::max_n>(in, buf, n);
  for (int t = 0; t < cfg::max_n; ++t) {
#pragma HLS PIPELINE II = 1
    ids[t] = t < n ? tok_id_t(buf[t]) : tok_id_t(kEmptyId);
  }
  if (score_in) read_i32<cfg::max_n>(in, score_buf, n);
}

void pruning_compute(int stage, int n, int mode, int k, int score_in, const rows_t x,
                     const tok_id_t ids[cfg::max_n], const ap_int<32> score_buf[cfg::max_n],
                     const word_t* weights, const word_t* biases, rows_t x_new,
                     tok_id_t ids_new[cfg::max_n], prob_t score[cfg::max_n], int counts[2]) {
  if (score_in) {
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
#pragma HLS PIPELINE II = 1
      score[t] = prob_t(score_buf[t]);
    }
  } else {
    pruning_score<cfg>(kModel.sel[stage], x, n, weights, biases, score);
  }
  int fused = 0;
  counts[0] = pruning_select<cfg>(x, ids, n, score, mode, k, kDim, x_new, ids_new, fused);
  counts[1] = fused;
}

// out: (n_new, n_fused), scores (int32), new rows, new ids (int32).
void pruning_write(axis_t& out, int n, const rows_t x_new, const tok_id_t ids_new[cfg::max_n],
                   const prob_t score[cfg::max_n], const int counts[2]) {
  ap_int<32> buf[cfg::max_n];
  const int n_new = counts[0];
  axis_write_i32_pair(out, n_new, counts[1], false);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
#pragma HLS PIPELINE II = 1
    buf[t] = score[t];
  }
  write_i32<cfg::max_n>(out, buf, n, false);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, x_new, n_new, kDim, 0, false);
  for (int t = 0; t < n_new; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
#pragma HLS PIPELINE II = 1
    buf[t] = ids_new[t];
  }
  write_i32<cfg::max_n>(out, buf, n_new, true);
}

// -- small engines --------------------------------------------------------------------------
void softmax_compute(const ap_int<32> logits[cfg::max_n], int n, int frac,
                     act_t row[1][cfg::max_n]) {
  attn_prob_t probs[cfg::max_n];
  softmax<cfg::max_n>(logits, n, frac, probs);
  for (int j = 0; j < n; ++j) {  // raw bits of the unsigned probabilities
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
#pragma HLS PIPELINE II = 1
    row[0][j] = act_t(ap_int<8>(probs[j].range(7, 0)));
  }
}

void image_read(axis_t& in, pixel_t image[kImagePixels]) {
  act_t raw[1][kImagePixels];
  axis_read_rows<1, kImagePixels>(in, raw, 1, kImagePixels, 0);
  for (int p = 0; p < kImagePixels; ++p) {
#pragma HLS PIPELINE II = 1
    image[p] = pixel_t(raw[0][p].range(7, 0));
  }
}

void logits_write(axis_t& out, const acc_t logits[cfg::max_classes]) {
  write_i32<cfg::max_classes>(out, logits, kClasses, true);
}

}  // namespace

void linear_top(axis_t& in, axis_t& out, int layer, int n, const word_t weights[kNumWeightWords],
                const word_t biases[kNumBiasWords]) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE s_axilite port = layer
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE m_axi port = weights offset = slave bundle = gmem_w depth = kNumWeightWords
#pragma HLS INTERFACE m_axi port = biases offset = slave bundle = gmem_b depth = kNumBiasWords
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  act_t x[cfg::max_n][cfg::max_w], res[cfg::max_n][cfg::max_w], y[cfg::max_n][cfg::max_w];
  acc_t raw[cfg::max_n][cfg::max_out];
#pragma HLS ARRAY_PARTITION variable = x cyclic factor = cfg::lanes dim = 2
  linear_read(in, layer, n, x, res);
  linear_compute(layer, n, x, res, weights, biases, y, raw);
  linear_write(out, layer, n, y, raw);
}

void layernorm_top(axis_t& in, axis_t& out, int layer, int n, const word_t weights[kNumWeightWords],
                   const word_t biases[kNumBiasWords]) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE s_axilite port = layer
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE m_axi port = weights offset = slave bundle = gmem_w depth = kNumWeightWords
#pragma HLS INTERFACE m_axi port = biases offset = slave bundle = gmem_b depth = kNumBiasWords
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  act_t x[cfg::max_n][cfg::max_w], y[cfg::max_n][cfg::max_w];
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, n, kLayerNorms[layer].dim, 0);
  layernorm<cfg>(kLayerNorms[layer], x, n, weights, biases, y);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, y, n, kLayerNorms[layer].dim, 0, true);
}

void softmax_top(axis_t& in, axis_t& out, int n, int frac) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE s_axilite port = frac
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  ap_int<32> logits[cfg::max_n];
  act_t row[1][cfg::max_n];
  read_i32<cfg::max_n>(in, logits, n);
  softmax_compute(logits, n, frac, row);
  axis_write_rows<1, cfg::max_n>(out, row, 1, n, 0, true);
}

void gelu_top(axis_t& in, axis_t& out, int n, int frac_in, int frac_out) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE s_axilite port = frac_in
#pragma HLS INTERFACE s_axilite port = frac_out
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  act_t x[1][cfg::max_n * cfg::max_w], y[1][cfg::max_n * cfg::max_w];
  axis_read_rows<1, cfg::max_n * cfg::max_w>(in, x, 1, n, 0);
  gelu_vec<cfg::max_n * cfg::max_w>(x[0], n, frac_in, frac_out, y[0]);
  axis_write_rows<1, cfg::max_n * cfg::max_w>(out, y, 1, n, 0, true);
}

void attention_top(axis_t& in, axis_t& out, int block, int n, const word_t weights[kNumWeightWords],
                   const word_t biases[kNumBiasWords]) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE s_axilite port = block
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE m_axi port = weights offset = slave bundle = gmem_w depth = kNumWeightWords
#pragma HLS INTERFACE m_axi port = biases offset = slave bundle = gmem_b depth = kNumBiasWords
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  act_t h[cfg::max_n][cfg::max_w], x[cfg::max_n][cfg::max_w], y[cfg::max_n][cfg::max_w];
#pragma HLS ARRAY_PARTITION variable = h cyclic factor = cfg::lanes dim = 2
  block_read(in, n, h, x);
  attention<cfg>(kModel.attn[block], h, x, n, weights, biases, y);
  rows_write(out, n, y);
}

void mlp_top(axis_t& in, axis_t& out, int block, int n, const word_t weights[kNumWeightWords],
             const word_t biases[kNumBiasWords]) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE s_axilite port = block
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE m_axi port = weights offset = slave bundle = gmem_w depth = kNumWeightWords
#pragma HLS INTERFACE m_axi port = biases offset = slave bundle = gmem_b depth = kNumBiasWords
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  act_t h[cfg::max_n][cfg::max_w], x[cfg::max_n][cfg::max_w], y[cfg::max_n][cfg::max_w];
#pragma HLS ARRAY_PARTITION variable = h cyclic factor = cfg::lanes dim = 2
  block_read(in, n, h, x);
  mlp<cfg>(kModel.mlp[block], h, x, n, weights, biases, y);
  rows_write(out, n, y);
}

// in: x rows, ids (int32), and scores (int32) when score_in != 0 (decision only).
// out: (n_new, n_fused), scores (int32), new rows, new ids (int32).
void pruning_top(axis_t& in, axis_t& out, int stage, int n, int mode, int k, int score_in,
                 const word_t weights[kNumWeightWords], const word_t biases[kNumBiasWords]) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE s_axilite port = stage
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE s_axilite port = mode
#pragma HLS INTERFACE s_axilite port = k
#pragma HLS INTERFACE s_axilite port = score_in
#pragma HLS INTERFACE m_axi port = weights offset = slave bundle = gmem_w depth = kNumWeightWords
#pragma HLS INTERFACE m_axi port = biases offset = slave bundle = gmem_b depth = kNumBiasWords
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  act_t x[cfg::max_n][cfg::max_w], x_new[cfg::max_n][cfg::max_w];
  tok_id_t ids[cfg::max_n], ids_new[cfg::max_n];
  ap_int<32> score_buf[cfg::max_n];
  prob_t score[cfg::max_n];
  int counts[2];
  pruning_read(in, n, score_in, x, ids, score_buf);
  pruning_compute(stage, n, mode, k, score_in, x, ids, score_buf, weights, biases, x_new, ids_new,
                  score, counts);
  pruning_write(out, n, x_new, ids_new, score, counts);
}

void patch_embed_top(axis_t& in, axis_t& out, const word_t weights[kNumWeightWords],
                     const word_t biases[kNumBiasWords]) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE m_axi port = weights offset = slave bundle = gmem_w depth = kNumWeightWords
#pragma HLS INTERFACE m_axi port = biases offset = slave bundle = gmem_b depth = kNumBiasWords
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  pixel_t image[kImagePixels];
  act_t x[cfg::max_n][cfg::max_w];
  image_read(in, image);
  patch_embed<cfg>(kModel.embed, image, weights, biases, x);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, x, kMaxTokens, kDim, 0, true);
}

void head_top(axis_t& in, axis_t& out, const word_t weights[kNumWeightWords],
              const word_t biases[kNumBiasWords]) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE m_axi port = weights offset = slave bundle = gmem_w depth = kNumWeightWords
#pragma HLS INTERFACE m_axi port = biases offset = slave bundle = gmem_b depth = kNumBiasWords
#pragma HLS INTERFACE s_axilite port = return
#pragma HLS DATAFLOW
  act_t x[cfg::max_n][cfg::max_w];
  acc_t logits[cfg::max_classes];
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, 1, kDim, 0);
  head<cfg>(kModel.head, x, weights, biases, logits);
  logits_write(out, logits);
}

// -- reduction methods -------------------------------------------------------------------------
// Not DATAFLOW regions: the method's score outputs are one struct (attn_method) written by
// the attention engine and read back by the writer; these tops exist for the engine tests.

// in: h rows, x rows (int8), key sizes (int32 n). head_on: bit h set = head h computed.
// out: y rows (int8), then int32: CLS attention (n), Σ_h max_i A (n), head mass (heads),
// PPT score (n), unit keys (n x head_dim).
// chan (CAIT): then Q/K and V channel masks (int32 0/1, dim each).
void attention_method_top(axis_t& in, axis_t& out, int block, int n, int prop, int head_on, int chan,
                          const word_t weights[kNumWeightWords], const word_t biases[kNumBiasWords]) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE s_axilite port = block
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE s_axilite port = prop
#pragma HLS INTERFACE s_axilite port = head_on
#pragma HLS INTERFACE s_axilite port = chan
#pragma HLS INTERFACE m_axi port = weights offset = slave bundle = gmem_w depth = kNumWeightWords
#pragma HLS INTERFACE m_axi port = biases offset = slave bundle = gmem_b depth = kNumBiasWords
#pragma HLS INTERFACE s_axilite port = return
  static act_t h[cfg::max_n][cfg::max_w], x[cfg::max_n][cfg::max_w], y[cfg::max_n][cfg::max_w];
  static attn_method<cfg> am;
#pragma HLS ARRAY_PARTITION variable = h cyclic factor = cfg::lanes dim = 2
  ap_int<32> buf[cfg::max_n * cfg::max_w];
  block_read(in, n, h, x);
  read_i32<cfg::max_n>(in, buf, n);
  attn_method_off<cfg>(am);
  am.want = kWantCls | kWantMax | kWantMass | kWantPpt | kWantUnit;
  am.prop = prop != 0;
  am.log_size = kModel.red.log_size;
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    am.size[t] = buf[t];
  }
  for (int hd = 0; hd < cfg::max_heads; ++hd) am.head_on[hd] = (head_on >> hd) & 1;
  am.chan = (chan & 1) != 0;
  if (am.chan) {
    read_i32<cfg::max_n * cfg::max_w>(in, buf, kDim);
    for (int c = 0; c < kDim; ++c) am.qk_on[c] = buf[c] != 0;
    read_i32<cfg::max_n * cfg::max_w>(in, buf, kDim);
    for (int c = 0; c < kDim; ++c) am.v_on[c] = buf[c] != 0;
  }
  am.emb = (chan & 2) != 0;
  am.want |= kWantKsum;
  if (am.emb) {  // PRANCE's embedding width: the model masks LN1's output before attention
    read_i32<cfg::max_n * cfg::max_w>(in, buf, kDim);
    for (int c = 0; c < kDim; ++c) am.emb_on[c] = buf[c] != 0;
    mask_channels<cfg>(h, n, kDim, am.emb_on);
  }
  const attention_desc& d = kModel.attn[block];
  attention_m<cfg>(d, h, x, n, weights, biases, y, am);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, y, n, kDim, 0, false);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    buf[t] = am.cls[t];
  }
  write_i32<cfg::max_n * cfg::max_w>(out, buf, n, false);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    buf[t] = am.mx[t];
  }
  write_i32<cfg::max_n * cfg::max_w>(out, buf, n, false);
  for (int hd = 0; hd < d.heads; ++hd) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_heads
    buf[hd] = am.mass[hd];
  }
  write_i32<cfg::max_n * cfg::max_w>(out, buf, d.heads, false);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    buf[t] = am.ppt[t];
  }
  write_i32<cfg::max_n * cfg::max_w>(out, buf, n, false);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    for (int c = 0; c < d.head_dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_w
      buf[t * d.head_dim + c] = am.u[t][c];
    }
  }
  write_i32<cfg::max_n * cfg::max_w>(out, buf, n * d.head_dim, false);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    buf[t] = am.ksum[t];
  }
  write_i32<cfg::max_n * cfg::max_w>(out, buf, n, true);
}

// in: x rows (int8), then int32: ids (n), sizes (n), CP-ViT cum (n), score (n: CLS attention
// for EViT, PPT score for PPT; unused otherwise), unit keys (n x head_dim).
// method: reduce.h Method; k: kept candidates (EViT, CP-ViT, PRANCE); r, tau: ToMe / PPT (r:
// CAIT's merges, PRANCE's token action: 1 merge, 0 prune); win_r x win_c: CAIT's ATME window.
// out: (n_new, pooled), rows (int8), then int32 ids, sizes, cum (n_new each).
void reduce_top(axis_t& in, axis_t& out, int method, int n, int k, int r, int tau, int win_r,
                int win_c) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE s_axilite port = method
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE s_axilite port = k
#pragma HLS INTERFACE s_axilite port = r
#pragma HLS INTERFACE s_axilite port = tau
#pragma HLS INTERFACE s_axilite port = win_r
#pragma HLS INTERFACE s_axilite port = win_c
#pragma HLS INTERFACE s_axilite port = return
  typedef score_types<cfg> ST;
  static act_t x[cfg::max_n][cfg::max_w];
  static token_meta<cfg> tm;
  static typename ST::unit_t u[cfg::max_n][cfg::max_w];
  typename ST::cls_t cls[cfg::max_n];
  typename ST::ppt_t ppt[cfg::max_n];
  ap_int<32> buf[cfg::max_n * cfg::max_w];
  const int heads = kModel.attn[0].heads, dh = kModel.attn[0].head_dim;
  axis_read_rows<cfg::max_n, cfg::max_w>(in, x, n, kDim, 0);
  read_i32<cfg::max_n * cfg::max_w>(in, buf, n);
  for (int t = 0; t < cfg::max_n; ++t) tm.ids[t] = t < n ? tok_id_t(buf[t]) : tok_id_t(kEmptyId);
  read_i32<cfg::max_n * cfg::max_w>(in, buf, n);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    tm.size[t] = buf[t];
  }
  read_i32<cfg::max_n * cfg::max_w>(in, buf, n);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    tm.cum[t] = buf[t];
  }
  read_i32<cfg::max_n * cfg::max_w>(in, buf, n);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    cls[t] = buf[t];
    ppt[t] = buf[t];
  }
  read_i32<cfg::max_n * cfg::max_w>(in, buf, n * dh);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    for (int c = 0; c < dh; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_w
      u[t][c] = buf[t * dh + c];
    }
  }
  bool pooled = false;
  int m = n;
  if (method == kMethodEvit) m = evit_fuse<cfg>(x, tm, n, kDim, cls, k, heads);
  else if (method == kMethodCpvit) m = drop_topk<cfg>(x, tm, n, kDim, tm.cum, k);
  else if (method == kMethodTome) m = bipartite_merge<cfg>(x, tm, n, kDim, u, dh, r);
  else if (method == kMethodPpt) m = ppt_reduce<cfg>(x, tm, n, kDim, ppt, u, dh, r, tau, pooled);
  else if (method == kMethodCait)
    m = atme_merge<cfg>(x, tm, n, kDim, cls, u, dh, kModel.embed.grid, win_r, win_c, r);
  else if (method == kMethodPrance) m = prance_token_step<cfg>(x, tm, n, kDim, cls, k, r != 0);
  axis_write_i32_pair(out, m, pooled ? 1 : 0, false);
  axis_write_rows<cfg::max_n, cfg::max_w>(out, x, m, kDim, 0, false);
  for (int t = 0; t < m; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = cfg::max_n
    buf[t] = tm.ids[t];
    buf[m + t] = tm.size[t];
    buf[2 * m + t] = tm.cum[t];
  }
  write_i32<cfg::max_n * cfg::max_w>(out, buf, 3 * m, true);
}
