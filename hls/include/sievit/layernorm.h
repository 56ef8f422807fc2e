// Engine `layernorm`: integer LayerNorm over the channels of each live row
// (docs/numerics.md, "LayerNorm"): centre exactly, floor isqrt of the variance,
// 2^32 / den reciprocal, normalise at frac 8, affine with int8 gamma and int32 beta.
#ifndef SIEVIT_LAYERNORM_H_
#define SIEVIT_LAYERNORM_H_

#include "types.h"

namespace sievit {

static const int kLnRecipBits = 32;
static const int kLnNormFrac = 8;

struct layernorm_desc {
  int dim;
  int g_off;       // gamma (int8) in the weight memory
  int b_off;       // beta (int32) in the bias memory
  int gamma_frac;  // beta is at frac kLnNormFrac + gamma_frac
  int frac_out;
};

template <int MAX_W>
void layernorm_row(const layernorm_desc& d, const act_t x[MAX_W], const wgt_t* wmem,
                   const bias_t* bmem, act_t y[MAX_W]) {
  i64 s1 = 0;
  for (int i = 0; i < d.dim; ++i) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX_W)
SIEVIT_HLS(HLS PIPELINE II = 1)
    s1 += x[i];
  }
  i64 v = 0;
  for (int i = 0; i < d.dim; ++i) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX_W)
SIEVIT_HLS(HLS PIPELINE II = 1)
    const i64 c = d.dim * i64(x[i]) - s1;
    v += c * c;
  }
  i64 den = isqrt(v / d.dim);
  if (den < 1) den = 1;
  const i64 recip = (1LL << kLnRecipBits) / den;
  for (int i = 0; i < d.dim; ++i) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX_W)
SIEVIT_HLS(HLS PIPELINE II = 1)
    const i64 c = d.dim * i64(x[i]) - s1;
    const i64 nrm = rshift_rne(c * recip, kLnRecipBits - kLnNormFrac);
    const i64 yv = nrm * i64(wmem[d.g_off + i]) + i64(bmem[d.b_off + i]);
    y[i] = requant(yv, kLnNormFrac + d.gamma_frac, d.frac_out);
  }
}

template <class CFG>
void layernorm(const layernorm_desc& d, const act_t x[CFG::max_n][CFG::max_w], int n,
               const wgt_t* wmem, const bias_t* bmem, act_t y[CFG::max_n][CFG::max_w]) {
  for (int t = 0; t < n; ++t) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n)
    layernorm_row<CFG::max_w>(d, x[t], wmem, bmem, y[t]);
  }
}

}  // namespace sievit

#endif  // SIEVIT_LAYERNORM_H_
