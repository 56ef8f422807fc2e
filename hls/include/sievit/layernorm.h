// Engine `layernorm`: integer LayerNorm over the channels of each live row
// (docs/numerics.md, "LayerNorm"): centre exactly, floor isqrt of the variance,
// 2^32 / den reciprocal, normalise at frac 8, affine with int8 gamma and int32 beta.
// gamma and beta are burst-read once per call into local buffers that every row reuses.
// Widths follow from MAX_W: |dim x - sum| <= 255 dim, variance sum <= dim (255 dim)^2.
#ifndef SIEVIT_LAYERNORM_H_
#define SIEVIT_LAYERNORM_H_

#include "mem.h"
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
struct ln_types {
  static const int kSumBits = 9 + ubits(MAX_W);                       // sum of int8
  static const int kCBits = 1 + ubits(255ULL * MAX_W);                // centred value
  static const int kVBits = ubits(255ULL * 255ULL * MAX_W * MAX_W * MAX_W);  // variance sum
  static const int kNrmBits = kCBits + 33 - (kLnRecipBits - kLnNormFrac) + 1;
  static const int kYBits = (kNrmBits + 8 > 32 ? kNrmBits + 8 : 32) + 1;
};

template <int MAX_W>
void layernorm_row(const layernorm_desc& d, const act_t x[MAX_W], const wgt_t gamma[MAX_W],
                   const bias_t beta[MAX_W], act_t y[MAX_W]) {
  typedef ln_types<MAX_W> T;
  ap_int<T::kSumBits> s1 = 0;
  for (int i = 0; i < d.dim; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_W
#pragma HLS PIPELINE II = 1
    s1 += x[i];
  }
  ap_uint<T::kVBits> v = 0;
  for (int i = 0; i < d.dim; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_W
#pragma HLS PIPELINE II = 1
    const ap_int<T::kCBits> c = ap_int<T::kCBits>(d.dim) * x[i] - s1;
    v += ap_uint<T::kVBits>(c * c);
  }
  const ap_uint<T::kVBits> var = v / ap_uint<ubits(MAX_W)>(d.dim);
  ap_uint<(T::kVBits + 1) / 2> den = isqrt<T::kVBits>(var);
  if (den < 1) den = 1;
  const ap_uint<33> recip = (ap_uint<33>(1) << kLnRecipBits) / den;
  for (int i = 0; i < d.dim; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_W
#pragma HLS PIPELINE II = 1
    const ap_int<T::kCBits> c = ap_int<T::kCBits>(d.dim) * x[i] - s1;
    const ap_int<T::kCBits + 34> prod = ap_int<T::kCBits + 34>(c) * recip;
    const ap_int<T::kNrmBits> nrm = ap_int<T::kNrmBits>(
        shr_rne<T::kCBits + 34>(prod, kLnRecipBits - kLnNormFrac));
    const ap_int<T::kYBits> yv = ap_int<T::kYBits>(nrm * gamma[i]) + beta[i];
    y[i] = requant<T::kYBits>(yv, kLnNormFrac + d.gamma_frac, d.frac_out);
  }
}

// gamma / beta of one LayerNorm into local buffers (one burst each).
template <class CFG>
void layernorm_params(const layernorm_desc& d, const ap_uint<CFG::word_bits>* wmem,
                      const ap_uint<CFG::word_bits>* bmem, wgt_t gamma[CFG::max_w],
                      bias_t beta[CFG::max_w]) {
  load_i8<CFG, CFG::max_w>(wmem, d.g_off, d.dim, gamma);
  load_i32<CFG, CFG::max_w>(bmem, d.b_off, d.dim, beta);
}

template <class CFG>
void layernorm(const layernorm_desc& d, const act_t x[CFG::max_n][CFG::max_w], int n,
               const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
               act_t y[CFG::max_n][CFG::max_w]) {
  static wgt_t gamma[CFG::max_w];
  static bias_t beta[CFG::max_w];
#pragma HLS ARRAY_PARTITION variable = gamma cyclic factor = CFG::word_bits / 8
#pragma HLS ARRAY_PARTITION variable = beta cyclic factor = CFG::word_bits / 32
  layernorm_params<CFG>(d, wmem, bmem, gamma, beta);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    layernorm_row<CFG::max_w>(d, x[t], gamma, beta, y[t]);
  }
}

}  // namespace sievit

#endif  // SIEVIT_LAYERNORM_H_
