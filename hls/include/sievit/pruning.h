// Engine `pruning`: the HeatViT token selector (docs/numerics.md, "HeatViT selector").
// pruning_score: LN -> per-head local MLP -> global mean -> per-head keep/prune logits ->
// PLAN sigmoid -> head-weighted score (Q0.8). pruning_select: threshold or top-k decision,
// package token, stable compaction (CLS first, kept tokens in original order, package last).
// Its linear layers run on the linear engine.
#ifndef SIEVIT_PRUNING_H_
#define SIEVIT_PRUNING_H_

#include "layernorm.h"
#include "linear.h"

namespace sievit {

enum PruneMode { kModeNone = 0, kModeThreshold = 1, kModeTopk = 2 };
static const int kSigmoidOutFrac = 8;
static const int kKeepThreshold = 128;

template <int H>
struct selector_desc {
  layernorm_desc ln;
  linear_desc local[H];  // kGelu; per head: input columns h*d_h, output columns h*hid
  linear_desc mlp1[H];   // kGelu; input [local_h, global_h] (2*hid), output columns h*hid
  linear_desc mlp2[H];   // kRaw; input columns h*hid, outputs (keep, prune)
  linear_desc head_w;    // kRaw; input: the global vector (H*hid), one output per head
  int heads, hid;
};

// Piecewise-linear sigmoid (PLAN) of d at `frac` (0 <= frac <= kSigmoidMaxFrac), Q0.8 in
// [0, 256]. 48-bit datapath: 32 * 2^frac and 8 |d| both fit.
static const int kSigmoidMaxFrac = 40;
template <int W>
prob_t sigmoid_plan(ap_int<W> d, int frac) {
  typedef ap_int<48> s_t;
  const s_t t = d < 0 ? s_t(-d) : s_t(d);
  const s_t one = s_t(1) << frac;
  s_t v;
  if (t < one) v = 8 * t + 16 * one;
  else if (8 * t < 19 * one) v = 4 * t + 20 * one;
  else if (t < 5 * one) v = t + 27 * one;
  else v = 32 * one;
  const int s = frac + 5 - kSigmoidOutFrac;
  const s_t p = s >= 0 ? s_t(v >> s) : s_t(v << -s);
  return prob_t(d >= 0 ? p : s_t((1 << kSigmoidOutFrac) - p));
}

template <class CFG>
void pruning_score(const selector_desc<CFG::max_heads>& d, const act_t x[CFG::max_n][CFG::max_w],
                   int n, const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
                   prob_t score[CFG::max_n]) {
  typedef ap_int<9 + ubits(CFG::max_n)> gsum_t;                       // sum of n int8
  typedef ap_uint<17 + ubits(CFG::max_heads)> wnum_t;                 // sum of prob x prob
  typedef ap_uint<9 + ubits(CFG::max_heads)> wden_t;                  // sum of probs
  static act_t nrm[CFG::max_n][CFG::max_w], loc[CFG::max_n][CFG::max_w];
  static act_t cat[CFG::max_n][CFG::max_w], mid[CFG::max_n][CFG::max_w];
  static act_t glob[1][CFG::max_w];
  static acc_t raw[CFG::max_n][2];
  static acc_t wraw[1][CFG::max_heads];
  prob_t pq[CFG::max_n][CFG::max_heads];
  prob_t wq[CFG::max_heads];
#pragma HLS ARRAY_PARTITION variable = nrm cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = loc cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = cat cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = mid cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = glob cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = pq complete dim = 2
#pragma HLS ARRAY_PARTITION variable = wq complete
  layernorm<CFG>(d.ln, x, n, wmem, bmem, nrm);
  for (int h = 0; h < d.heads; ++h) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_heads
    linear<CFG>(d.local[h], nrm, n, wmem, bmem, loc, loc);
  }
  const int width = d.heads * d.hid;
  const ap_uint<ubits(CFG::max_n)> cnt = n > 1 ? n - 1 : 1;  // live rows but CLS (old package in)
  for (int c = 0; c < width; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
    gsum_t s = 0;
    for (int t = 1; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
      s += loc[t][c];
    }
    glob[0][c] = act_t(div_round<gsum_t::width, ubits(CFG::max_n)>(s, cnt));
  }
  for (int h = 0; h < d.heads; ++h) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_heads
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
      for (int c = 0; c < d.hid; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
        cat[t][c] = loc[t][h * d.hid + c];
        cat[t][d.hid + c] = glob[0][h * d.hid + c];
      }
    }
    linear<CFG>(d.mlp1[h], cat, n, wmem, bmem, mid, mid);
    linear_raw<CFG, 2>(d.mlp2[h], mid, n, wmem, bmem, raw);
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
      pq[t][h] = sigmoid_plan<33>(ap_int<33>(raw[t][0]) - raw[t][1], d.mlp2[h].frac_acc);
    }
  }
  linear_raw<CFG, CFG::max_heads>(d.head_w, glob, 1, wmem, bmem, wraw);
  wden_t den = 0;
  for (int h = 0; h < d.heads; ++h) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_heads
    wq[h] = sigmoid_plan<32>(wraw[0][h], d.head_w.frac_acc);
    den += wq[h];
  }
  const ap_uint<ubits(CFG::max_heads)> heads = d.heads;
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
    wnum_t num = 0;
    wden_t plain = 0;
    for (int h = 0; h < CFG::max_heads; ++h) {
#pragma HLS UNROLL
      if (h < d.heads) {
        num += wq[h] * pq[t][h];
        plain += pq[t][h];
      }
    }
    score[t] = prob_t(den > 0 ? wnum_t(num / den) : wnum_t(plain / heads));
  }
}

// Decision, package token and stable compaction. k: patches kept in top-k mode.
// Returns the new token count (CLS + kept + package if any); n_fused gets the fused count.
template <class CFG>
int pruning_select(const act_t x[CFG::max_n][CFG::max_w], const tok_id_t ids[CFG::max_n], int n,
                   const prob_t score[CFG::max_n], int mode, int k, int dim,
                   act_t x_out[CFG::max_n][CFG::max_w], tok_id_t ids_out[CFG::max_n], int& n_fused) {
  typedef ap_uint<9 + ubits(CFG::max_n)> wsum_t;     // sum of n scores
  typedef ap_int<18 + ubits(CFG::max_n)> pnum_t;     // sum of n (int8 x score)
  bool keep[CFG::max_n], fuse[CFG::max_n];
  wsum_t wsum = 0;
  ap_uint<ubits(CFG::max_n)> cnt = 0;
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    const bool cand = t > 0 && ids[t] > 0;
    bool kp = false;
    if (cand && mode == kModeThreshold) {
      kp = score[t] >= kKeepThreshold;
    } else if (cand) {  // top-k: rank among candidates, ties to the lower index
      int rank = 0;
      for (int j = 1; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
        const bool better = score[j] > score[t] || (score[j] == score[t] && j < t);
        if (ids[j] > 0 && better) ++rank;
      }
      kp = rank < k;
    }
    keep[t] = kp;
    fuse[t] = (cand && !kp) || (t > 0 && ids[t] == kPkgId);
    if (fuse[t]) {
      wsum += score[t];
      ++cnt;
    }
  }
  int m = 0;
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    if (t == 0 || keep[t]) {
      for (int c = 0; c < dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
        x_out[m][c] = x[t][c];
      }
      ids_out[m] = ids[t];
      ++m;
    }
  }
  if (cnt > 0) {
    for (int c = 0; c < dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
      pnum_t num = 0;
      ap_int<9 + ubits(CFG::max_n)> plain = 0;
      for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
        if (fuse[t]) {
          num += x[t][c] * score[t];
          plain += x[t][c];
        }
      }
      x_out[m][c] = act_t(wsum > 0 ? ap_int<pnum_t::width>(div_round<pnum_t::width, wsum_t::width>(num, wsum))
                                   : ap_int<pnum_t::width>(div_round<9 + ubits(CFG::max_n), ubits(CFG::max_n)>(plain, cnt)));
    }
    ids_out[m] = kPkgId;
    ++m;
  }
  for (int t = m; t < CFG::max_n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = CFG::max_n
    ids_out[t] = kEmptyId;
  }
  n_fused = int(cnt);
  return m;
}

}  // namespace sievit

#endif  // SIEVIT_PRUNING_H_
