// sievit numeric primitives: the integer rules of docs/numerics.md (rounding, saturation,
// division, square root). Every engine header builds on these and nothing else.
#ifndef SIEVIT_TYPES_H_
#define SIEVIT_TYPES_H_

// GCC 12 reports false (maybe-)uninitialized warnings inside the ap_types headers at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "ap_int.h"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// HLS pragmas: active under Vitis HLS synthesis, absent for C-simulation with g++ so that the
// sources compile cleanly with -Wall -Wextra -Werror (no unknown-pragma warnings).
#ifdef __SYNTHESIS__
#define SIEVIT_PRAGMA_(x) _Pragma(#x)
#define SIEVIT_HLS(x) SIEVIT_PRAGMA_(x)
#else
#define SIEVIT_HLS(x)
#endif

namespace sievit {

typedef ap_int<8> act_t;    // activations, int8 [-128, 127]
typedef ap_int<8> wgt_t;    // weights, narrow int8 [-127, 127]
typedef ap_int<32> bias_t;  // biases (and LayerNorm beta) at the accumulator's scale
typedef ap_int<32> acc_t;   // linear accumulators, logits
typedef ap_uint<9> prob_t;  // Q0.8 probabilities and scores, [0, 256]
typedef ap_int<16> tok_id_t;    // token ids: 0 = CLS, 1.. patches, -1 package, -2 empty
typedef long long i64;      // wide intermediate arithmetic

static const int kPkgId = -1;
static const int kEmptyId = -2;

// x * 2^-shift, round half to even (shift <= 0: exact left shift).
inline i64 rshift_rne(i64 x, int shift) {
  if (shift <= 0) return x * (1LL << -shift);
  const i64 q = x >> shift;  // arithmetic shift: floor
  const i64 r = x - q * (1LL << shift);
  const i64 half = 1LL << (shift - 1);
  return q + ((r > half || (r == half && (q & 1))) ? 1 : 0);
}

// x * 2^-shift, floor (shift <= 0: exact left shift).
inline i64 rshift_floor(i64 x, int shift) {
  return shift <= 0 ? x * (1LL << -shift) : (x >> shift);
}

inline act_t sat8(i64 x) {
  return act_t(x < -128 ? -128 : (x > 127 ? 127 : x));
}

// Requantize an accumulator at frac_in to int8 at frac_out: round half to even, saturate.
inline act_t requant(i64 acc, int frac_in, int frac_out) {
  return sat8(rshift_rne(acc, frac_in - frac_out));
}

// floor(num / den) for den > 0 (C++ '/' truncates toward zero).
inline i64 div_floor(i64 num, i64 den) {
  i64 q = num / den;
  if ((num % den != 0) && (num < 0)) q -= 1;
  return q;
}

// num / den rounded half up: floor((2 num + den) / (2 den)), den > 0.
inline i64 div_round(i64 num, i64 den) { return div_floor(2 * num + den, 2 * den); }

// floor(sqrt(v)) for 0 <= v < 2^62: restoring digit-by-digit square root, 31 steps.
inline i64 isqrt(i64 v) {
  i64 rem = v, root = 0;
  for (int b = 30; b >= 0; --b) {
SIEVIT_HLS(HLS PIPELINE II = 1)
    const i64 trial = root + (1LL << (2 * b));
    if (rem >= trial) {
      rem -= trial;
      root = (root >> 1) + (1LL << (2 * b));
    } else {
      root >>= 1;
    }
  }
  return root;
}

}  // namespace sievit

#endif  // SIEVIT_TYPES_H_
