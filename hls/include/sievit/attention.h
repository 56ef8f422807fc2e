// Engine `attention`: Q, K, V projections (linear engine), per-head Q.K^T over the live
// tokens, integer softmax, A.V, head concat, output projection with the residual fused
// into its write-back (docs/numerics.md). The 1/sqrt(d_h) is folded into W_q.
#ifndef SIEVIT_ATTENTION_H_
#define SIEVIT_ATTENTION_H_

#include "linear.h"
#include "softmax.h"

namespace sievit {

struct attention_desc {
  linear_desc q, k, v;  // kRequant to the q / k / v activation fracs
  linear_desc proj;     // kResidual with the block input
  int heads, head_dim;
  int frac_s;           // logits frac: frac(q) + frac(k)
  int frac_v, frac_attn_out;
};

// h: LN1 output; x: block input (the residual). y may alias x.
template <class CFG>
void attention(const attention_desc& d, const act_t h[CFG::max_n][CFG::max_w],
               const act_t x[CFG::max_n][CFG::max_w], int n, const wgt_t* wmem,
               const bias_t* bmem, act_t y[CFG::max_n][CFG::max_w]) {
  static act_t q[CFG::max_n][CFG::max_w], k[CFG::max_n][CFG::max_w];
  static act_t v[CFG::max_n][CFG::max_w], a[CFG::max_n][CFG::max_w];
SIEVIT_HLS(HLS ARRAY_PARTITION variable = q cyclic factor = CFG::lanes dim = 2)
SIEVIT_HLS(HLS ARRAY_PARTITION variable = k cyclic factor = CFG::lanes dim = 2)
SIEVIT_HLS(HLS ARRAY_PARTITION variable = a cyclic factor = CFG::lanes dim = 2)
  linear<CFG>(d.q, h, n, wmem, bmem, q, q);
  linear<CFG>(d.k, h, n, wmem, bmem, k, k);
  linear<CFG>(d.v, h, n, wmem, bmem, v, v);
  i64 logits[CFG::max_n];
  attn_prob_t probs[CFG::max_n];
  for (int hd = 0; hd < d.heads; ++hd) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_heads)
    const int c0 = hd * d.head_dim;
    for (int t = 0; t < n; ++t) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n)
      for (int j = 0; j < n; ++j) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n)
        i64 s = 0;
        for (int c = 0; c < d.head_dim; c += CFG::lanes) {
SIEVIT_HLS(HLS PIPELINE II = 1)
          for (int l = 0; l < CFG::lanes; ++l) {
SIEVIT_HLS(HLS UNROLL)
            s += i64(q[t][c0 + c + l]) * i64(k[j][c0 + c + l]);
          }
        }
        logits[j] = s;
      }
      softmax<CFG::max_n>(logits, n, d.frac_s, probs);
      for (int c = 0; c < d.head_dim; ++c) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w)
        i64 s = 0;
        for (int j = 0; j < n; ++j) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n)
SIEVIT_HLS(HLS PIPELINE II = 1)
          s += i64(probs[j]) * i64(v[j][c0 + c]);
        }
        a[t][c0 + c] = requant(s, kSoftmaxOutFrac + d.frac_v, d.frac_attn_out);
      }
    }
  }
  linear<CFG>(d.proj, a, n, wmem, bmem, x, y);
}

}  // namespace sievit

#endif  // SIEVIT_ATTENTION_H_
