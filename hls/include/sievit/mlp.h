// Engine `mlp`: fc1 with GELU fused into its write-back, fc2 with the residual fused
// (docs/numerics.md). Each linear reads its weights once per call (weight tiles).
#ifndef SIEVIT_MLP_H_
#define SIEVIT_MLP_H_

#include "linear.h"

namespace sievit {

struct mlp_desc {
  linear_desc fc1;  // kGelu
  linear_desc fc2;  // kResidual with the MLP input's residual (res1)
};

// h2: LN2 output; x1: residual (attention output); y: block output (not aliased).
// masked (CAIT, PRANCE): hidden channels c with !hid_on[c] are 0 after the GELU; out_on
// (PRANCE's embedding width): fc2 outputs with !out_on[o] take a zero accumulator.
template <class CFG>
void mlp_m(const mlp_desc& d, const act_t h2[CFG::max_n][CFG::max_w],
           const act_t x1[CFG::max_n][CFG::max_w], int n, const ap_uint<CFG::word_bits>* wmem,
           const ap_uint<CFG::word_bits>* bmem, act_t y[CFG::max_n][CFG::max_w], bool masked,
           const bool hid_on[CFG::max_w], const bool* out_on = 0) {
  static act_t g[CFG::max_n][CFG::max_w];
#pragma HLS ARRAY_PARTITION variable = g cyclic factor = CFG::lanes dim = 2
  linear<CFG>(d.fc1, h2, n, wmem, bmem, g, g);
  for (int t = 0; t < n && masked; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    for (int c = 0; c < d.fc1.n_out; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
      if (!hid_on[c]) g[t][c] = 0;
    }
  }
  linear<CFG>(d.fc2, g, n, wmem, bmem, x1, y, out_on);
}

template <class CFG>
void mlp(const mlp_desc& d, const act_t h2[CFG::max_n][CFG::max_w],
         const act_t x1[CFG::max_n][CFG::max_w], int n, const ap_uint<CFG::word_bits>* wmem,
         const ap_uint<CFG::word_bits>* bmem, act_t y[CFG::max_n][CFG::max_w]) {
  static bool all_on[CFG::max_w];
  mlp_m<CFG>(d, h2, x1, n, wmem, bmem, y, false, all_on);
}

}  // namespace sievit

#endif  // SIEVIT_MLP_H_
