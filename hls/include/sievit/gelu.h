// Engine `gelu`: I-BERT erf-polynomial GELU (docs/numerics.md, "GELU").
#ifndef SIEVIT_GELU_H_
#define SIEVIT_GELU_H_

#include "types.h"

namespace sievit {

static const int kGeluFrac = 10;
static const int kGeluClip = 2562;
static const int kGeluA = 9463;
static const int kGeluAShift = 16;
static const int kGeluOutFrac = 3 * kGeluFrac + 1;
// Input fracs the engine accepts: int8 q at frac >= kGeluMinFrac is at most 8 + 10 - frac
// bits at frac 10 (parameters.h and the generator check the model's fracs).
static const int kGeluMinFrac = -13;
typedef ap_int<8 + kGeluFrac - kGeluMinFrac> gelu_x_t;     // q at frac 10
typedef ap_int<8 + kGeluFrac - kGeluMinFrac + 23> gelu_out_t;  // x * (2^20 + erf)

// GELU of int8 q at `frac`, returned at kGeluOutFrac fractional bits.
inline gelu_out_t gelu_int(act_t q, int frac) {
  const int s = frac - kGeluFrac;
  const gelu_x_t x = s >= 0 ? gelu_x_t(q >> (s < 8 ? s : 7)) : gelu_x_t(gelu_x_t(q) << -s);
  const gelu_x_t ax = x < 0 ? gelu_x_t(-x) : x;
  const ap_uint<12> t = ax < kGeluClip ? ap_uint<12>(ax) : ap_uint<12>(kGeluClip);
  const ap_uint<12> c = kGeluClip - t;
  const ap_uint<22> one = ap_uint<22>(1) << (2 * kGeluFrac);
  const ap_uint<37> sq = ap_uint<24>(c * c) * ap_uint<14>(kGeluA);
  const ap_uint<22> erf_abs = one - ap_uint<22>(sq >> kGeluAShift);
  const ap_int<23> erf = x > 0 ? ap_int<23>(erf_abs) : (x < 0 ? ap_int<23>(-ap_int<23>(erf_abs)) : ap_int<23>(0));
  return gelu_out_t(x) * gelu_out_t(ap_int<23>(one) + erf);
}

// int8 GELU: q at frac_in -> int8 at frac_out (round half even, saturate).
inline act_t gelu(act_t q, int frac_in, int frac_out) {
  return requant<gelu_out_t::width>(gelu_int(q, frac_in), kGeluOutFrac, frac_out);
}

// Engine form: a vector of n values.
template <int MAX_LEN>
void gelu_vec(const act_t in[MAX_LEN], int n, int frac_in, int frac_out, act_t out[MAX_LEN]) {
  for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_LEN
#pragma HLS PIPELINE II = 1
    out[i] = gelu(in[i], frac_in, frac_out);
  }
}

}  // namespace sievit

#endif  // SIEVIT_GELU_H_
