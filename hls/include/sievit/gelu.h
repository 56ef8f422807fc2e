// Engine `gelu`: I-BERT erf-polynomial GELU (docs/numerics.md, "GELU").
#ifndef SIEVIT_GELU_H_
#define SIEVIT_GELU_H_

#include "types.h"

namespace sievit {

static const int kGeluFrac = 10;
static const i64 kGeluClip = 2562;
static const i64 kGeluA = 9463;
static const int kGeluAShift = 16;
static const int kGeluOutFrac = 3 * kGeluFrac + 1;

// GELU of int8 q at `frac`, returned at kGeluOutFrac fractional bits.
inline i64 gelu_int(i64 q, int frac) {
  const i64 x = rshift_floor(q, frac - kGeluFrac);
  const i64 ax = x < 0 ? -x : x;
  const i64 t = ax < kGeluClip ? ax : kGeluClip;
  const i64 one = 1LL << (2 * kGeluFrac);
  const i64 erf_abs = one - (((kGeluClip - t) * (kGeluClip - t) * kGeluA) >> kGeluAShift);
  const i64 erf = x > 0 ? erf_abs : (x < 0 ? -erf_abs : 0);
  return x * (one + erf);
}

// int8 GELU: q at frac_in -> int8 at frac_out (round half even, saturate).
inline act_t gelu(act_t q, int frac_in, int frac_out) {
  return requant(gelu_int(q, frac_in), kGeluOutFrac, frac_out);
}

// Engine form: a vector of n values.
template <int MAX_LEN>
void gelu_vec(const act_t in[MAX_LEN], int n, int frac_in, int frac_out, act_t out[MAX_LEN]) {
  for (int i = 0; i < n; ++i) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX_LEN)
SIEVIT_HLS(HLS PIPELINE II = 1)
    out[i] = gelu(in[i], frac_in, frac_out);
  }
}

}  // namespace sievit

#endif  // SIEVIT_GELU_H_
