// sievit numeric primitives: the integer rules of docs/numerics.md (rounding, saturation,
// division, square root) on ap_int/ap_uint of the widths each caller derives from the
// contract. Every engine header builds on these and nothing else. No 64-bit C types.
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

namespace sievit {

typedef ap_int<8> act_t;      // activations, int8 [-128, 127]
typedef ap_int<8> wgt_t;      // weights, narrow int8 [-127, 127]
typedef ap_int<32> bias_t;    // biases (and LayerNorm beta) at the accumulator's scale
typedef ap_int<32> acc_t;     // int32 results on the interfaces (raw logits)
typedef ap_uint<9> prob_t;    // Q0.8 probabilities and scores, [0, 256]
typedef ap_int<16> tok_id_t;  // token ids: 0 = CLS, 1.. patches, -1 package, -2 empty

static const int kPkgId = -1;
static const int kEmptyId = -2;

// Bits to hold 0 .. v (compile time).
constexpr int ubits(unsigned long long v) { return v < 2 ? 1 : 1 + ubits(v >> 1); }

// x * 2^-shift (shift > 0), floor: an arithmetic shift, clamped so that it is defined.
template <int W>
ap_int<W> shr_floor(ap_int<W> x, int shift) {
  return x >> (shift < W ? shift : W - 1);
}

// x * 2^-shift, round half to even, for shift > 0.
template <int W>
ap_int<W> shr_rne(ap_int<W> x, int shift) {
  if (shift >= W) return 0;  // |x| <= 2^(W-1) <= 2^(shift-1): at most a tie at -1/2 -> 0
  const ap_int<W> q = x >> shift;
  const ap_uint<W> mask = (ap_uint<W>(1) << shift) - 1;
  const ap_uint<W> r = ap_uint<W>(x) & mask;
  const ap_uint<W> half = ap_uint<W>(1) << (shift - 1);
  return q + ((r > half || (r == half && q[0])) ? 1 : 0);
}

template <int W>
act_t sat8(ap_int<W> x) {
  return x < -128 ? act_t(-128) : (x > 127 ? act_t(127) : act_t(x));
}

// Requantize acc at frac_in to int8 at frac_out: round half to even, saturate. A negative
// shift (frac_out > frac_in) saturates before it shifts, so nothing widens.
template <int W>
act_t requant(ap_int<W> acc, int frac_in, int frac_out) {
  const int s = frac_in - frac_out;
  if (s > 0) return sat8<W>(shr_rne<W>(acc, s));
  const int l = -s;
  if (l >= 8) return acc > 0 ? act_t(127) : (acc < 0 ? act_t(-128) : act_t(0));
  if (acc > (127 >> l)) return act_t(127);
  if (acc < -(128 >> l)) return act_t(-128);
  return act_t(ap_int<9>(acc) << l);
}

// floor(num / den) for den > 0 (C++ '/' truncates toward zero). Narrow divider: N / M bits.
template <int N, int M>
ap_int<N> div_floor(ap_int<N> num, ap_uint<M> den) {
  const bool neg = num < 0;
  const ap_uint<N> mag = neg ? ap_uint<N>(-num) : ap_uint<N>(num);
  const ap_uint<N> q = mag / den;
  const ap_uint<N> r = mag - q * den;
  return neg ? ap_int<N>(-ap_int<N + 1>(q) - (r != 0 ? 1 : 0)) : ap_int<N>(q);
}

// num / den rounded half up: floor((2 num + den) / (2 den)), den > 0.
template <int N, int M>
ap_int<N> div_round(ap_int<N> num, ap_uint<M> den) {
  const ap_int<N + 2> n2 = ap_int<N + 2>(num) * 2 + den;
  const ap_uint<M + 1> d2 = ap_uint<M + 1>(den) * 2;
  return ap_int<N>(div_floor<N + 2, M + 1>(n2, d2));
}

// floor(sqrt(v)): restoring digit-by-digit square root, (B + 1) / 2 steps.
template <int B>
ap_uint<(B + 1) / 2> isqrt(ap_uint<B> v) {
  ap_uint<B + 1> rem = v, root = 0;
  for (int b = (B - 1) / 2; b >= 0; --b) {
#pragma HLS PIPELINE II = 1
    const ap_uint<B + 1> bit = ap_uint<B + 1>(1) << (2 * b);
    const ap_uint<B + 1> trial = root + bit;
    if (rem >= trial) {
      rem -= trial;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
  }
  return root;
}

}  // namespace sievit

#endif  // SIEVIT_TYPES_H_
