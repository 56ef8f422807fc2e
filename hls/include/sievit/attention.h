// Engine `attention`: Q, K, V projections (linear engine), per-head Q.K^T over the live
// tokens, integer softmax, A.V, head concat, output projection with the residual fused
// into its write-back (docs/numerics.md). The 1/sqrt(d_h) is folded into W_q.
// Q.K^T is flattened over (key, chunk) and A.V over (chunk, key), both pipelined at II = 1
// with CFG::lanes MACs per cycle on buffers partitioned by CFG::lanes along the channels.
// Reduction methods (attention_m): proportional attention adds ln(size) of each key to its
// logits, pruned heads are skipped (their output channels are 0), and the score sources of
// scores.h accumulate from each probability row as the softmax produces it.
#ifndef SIEVIT_ATTENTION_H_
#define SIEVIT_ATTENTION_H_

#include "linear.h"
#include "scores.h"
#include "softmax.h"

namespace sievit {

struct attention_desc {
  linear_desc q, k, v;  // kRequant to the q / k / v activation fracs
  linear_desc proj;     // kResidual with the block input
  int heads, head_dim;
  int frac_s;           // logits frac: frac(q) + frac(k)
  int frac_v, frac_attn_out;
};

// h: LN1 output; x: block input (the residual); y: the block's attention output.
// m: the method's inputs (sizes, head mask) and score outputs (scores.h).
template <class CFG>
void attention_m(const attention_desc& d, const act_t h[CFG::max_n][CFG::max_w],
                 const act_t x[CFG::max_n][CFG::max_w], int n, const ap_uint<CFG::word_bits>* wmem,
                 const ap_uint<CFG::word_bits>* bmem, act_t y[CFG::max_n][CFG::max_w],
                 attn_method<CFG>& m) {
  static act_t q[CFG::max_n][CFG::max_w], k[CFG::max_n][CFG::max_w];
  static act_t v[CFG::max_n][CFG::max_w], a[CFG::max_n][CFG::max_w];
#pragma HLS ARRAY_PARTITION variable = q cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = k cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = v cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = a cyclic factor = CFG::lanes dim = 2
  typedef ap_int<16 + ubits(CFG::lanes)> part_t;
  typedef ap_int<17 + ubits(CFG::max_n) + 1> av_t;  // sum of n (prob x int8)
  linear<CFG>(d.q, h, n, wmem, bmem, q, q);
  linear<CFG>(d.k, h, n, wmem, bmem, k, k);
  linear<CFG>(d.v, h, n, wmem, bmem, v, v);
  for (int t = 0; t < n && m.chan; ++t) {  // CAIT: masked Q/K and V channels are 0
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    for (int c = 0; c < d.heads * d.head_dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
      if (!m.qk_on[c]) {
        q[t][c] = 0;
        k[t][c] = 0;
      }
      if (!m.v_on[c]) v[t][c] = 0;
    }
  }
  for (int t = 0; t < n && (m.want & kWantKsum); ++t) {  // PRANCE's actor state (masked K)
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    typename score_types<CFG>::ksum_t s = 0;
    for (int c = 0; c < d.heads * d.head_dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
      s += k[t][c];
    }
    m.ksum[t] = s;
  }
  logit_t logits[CFG::max_n];
  attn_prob_t probs[CFG::max_n];
  av_t acc[CFG::lanes];
#pragma HLS ARRAY_PARTITION variable = acc complete
  const int cpr = d.head_dim / CFG::lanes;  // chunks per head
  typedef score_types<CFG> ST;
  ap_int<32> bias[CFG::max_n];
  attn_prob_t mxh[CFG::max_n];  // this head's max_i A[i, j]
  for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
    bias[j] = m.prop ? size_bias(m.log_size, int(m.size[j]), d.frac_s) : ap_int<32>(0);
    m.cls[j] = 0;
    m.mx[j] = 0;
  }
  for (int hd = 0; hd < d.heads; ++hd) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_heads
    const int cb = hd * cpr;
    m.mass[hd] = 0;
    if (!m.head_on[hd]) {  // pruned head: no Q.K^T, softmax or A.V; its channels are 0
      for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
        for (int c = 0; c < d.head_dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
          a[t][hd * d.head_dim + c] = 0;
        }
      }
      continue;
    }
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
      logit_t s = 0;
      int j = 0, c = 0;
      for (int it = 0; it < n * cpr; ++it) {  // Q.K^T: (key j, chunk c)
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n * CFG::max_w / CFG::lanes
#pragma HLS PIPELINE II = 1
        int psum = 0;  // LANES 8 x 8-bit products: part_t bits
        for (int l = 0; l < CFG::lanes; ++l) {
#pragma HLS UNROLL
          psum += q[t][(cb + c) * CFG::lanes + l].to_int() * k[j][(cb + c) * CFG::lanes + l].to_int();
        }
        const part_t part = psum;
        const logit_t sum = (c == 0 ? logit_t(0) : s) + part;
        s = sum;
        if (c == cpr - 1) {
          logits[j] = sum + bias[j];
          c = 0;
          ++j;
        } else {
          ++c;
        }
      }
      softmax<CFG::max_n>(logits, n, d.frac_s, probs);
      for (int j2 = 0; j2 < n; ++j2) {  // score sources, from this probability row
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
        if (t == 0) {
          m.cls[j2] += probs[j2];
          mxh[j2] = probs[j2];
        } else if (probs[j2] > mxh[j2]) {
          mxh[j2] = probs[j2];
        }
      }
      j = 0;
      c = 0;
      for (int it = 0; it < n * cpr; ++it) {  // A.V: (chunk c, key j), LANES channels
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n * CFG::max_w / CFG::lanes
#pragma HLS PIPELINE II = 1
        for (int l = 0; l < CFG::lanes; ++l) {
#pragma HLS UNROLL
          const av_t p = av_t(ap_int<18>(probs[j] * v[j][(cb + c) * CFG::lanes + l]));
          acc[l] = (j == 0 ? av_t(0) : acc[l]) + p;
        }
        if (j == n - 1) {
          for (int l = 0; l < CFG::lanes; ++l) {
#pragma HLS UNROLL
            a[t][(cb + c) * CFG::lanes + l] =
                requant<av_t::width>(acc[l], kSoftmaxOutFrac + d.frac_v, d.frac_attn_out);
          }
          j = 0;
          ++c;
        } else {
          ++j;
        }
      }
    }
    for (int j2 = 1; j2 < n; ++j2) {  // CP-ViT: Σ_h max_i A_h[i, j] and the head's mass
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
      m.mx[j2] += mxh[j2];
      m.mass[hd] += mxh[j2];
    }
  }
  m.cls[0] = 0;
  m.mx[0] = 0;
  if (m.want & kWantPpt) {
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
      m.ppt[t] = t == 0 ? typename ST::ppt_t(0) : ppt_score<CFG>(m.cls[t], v[t], d.heads * d.head_dim);
    }
  }
  if (m.want & kWantUnit) {
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
      unit_keys<CFG>(k[t], d.heads, d.head_dim, m.u[t]);
    }
  }
  linear<CFG>(d.proj, a, n, wmem, bmem, x, y, m.emb ? m.emb_on : 0);
}

// The plain attention engine (HeatViT and dense): no method inputs, scores unused.
template <class CFG>
void attention(const attention_desc& d, const act_t h[CFG::max_n][CFG::max_w],
               const act_t x[CFG::max_n][CFG::max_w], int n, const ap_uint<CFG::word_bits>* wmem,
               const ap_uint<CFG::word_bits>* bmem, act_t y[CFG::max_n][CFG::max_w]) {
  static attn_method<CFG> off;
  attn_method_off<CFG>(off);
  attention_m<CFG>(d, h, x, n, wmem, bmem, y, off);
}

}  // namespace sievit

#endif  // SIEVIT_ATTENTION_H_
