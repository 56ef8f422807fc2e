// Engine `softmax`: I-BERT integer softmax over the first n (live) keys of one row
// (docs/numerics.md, "Softmax"). Output: unsigned probabilities at frac 8, [0, 255].
// Narrow datapath: a key whose exponent shift z reaches 22 contributes exactly 0 (the
// polynomial is < 2^22), so the shifted difference saturates at 22 * ln2 (15 bits) and
// the division by ln2 is a 15-bit division by a constant; the reciprocal is a 33-bit by
// (22 + log2 MAX_N)-bit divider.
#ifndef SIEVIT_SOFTMAX_H_
#define SIEVIT_SOFTMAX_H_

#include "types.h"

namespace sievit {

static const int kExpFrac = 10;
static const int kExpLn2 = 710;
static const int kExpB = 1385;
static const int kExpC = 1006151;
static const int kExpZeroShift = 22;             // poly < 2^22: poly >> z == 0 for z >= 22
static const int kExpSat = kExpZeroShift * kExpLn2;  // 15620
static const int kSoftmaxRecipBits = 32;
static const int kSoftmaxOutFrac = 8;
static const int kSoftmaxOutMax = 255;

typedef ap_uint<8> attn_prob_t;
typedef ap_int<32> logit_t;    // attention logits (int32 by the contract)
typedef ap_uint<22> exp_t;     // (p + B)^2 + C, p in (-ln2, 0]

// -(logit - max) at frac 10, saturated at kExpSat; nd = max - logit >= 0 at `frac`.
inline ap_uint<15> exp_arg(ap_uint<33> nd, int frac) {
  const int s = frac - kExpFrac;
  if (s > 0) {  // ceil(nd / 2^s): the floor of a non-positive value, negated
    const ap_int<34> neg = -ap_int<34>(nd);
    const ap_int<34> q = neg >> (s < 33 ? s : 33);
    const ap_uint<34> m = ap_uint<34>(-q);
    return m >= kExpSat ? ap_uint<15>(kExpSat) : ap_uint<15>(m);
  }
  const int l = -s;
  const int lim = l >= 14 ? 1 : (kExpSat + (1 << l) - 1) >> l;  // ceil(kExpSat / 2^l)
  if (nd >= ap_uint<33>(lim)) return kExpSat;
  return ap_uint<15>(nd) << l;
}

inline exp_t exp_poly(ap_uint<15> a) {
  if (a >= kExpSat) return 0;
  const ap_uint<5> z = a / kExpLn2;  // constant divisor
  const ap_uint<11> r = a - z * kExpLn2;           // -p, in [0, ln2)
  const ap_uint<11> pb = kExpB - r;                // p + B, in (B - ln2, B]
  const exp_t poly = exp_t(pb * pb) + kExpC;
  return poly >> z;
}

template <int MAX_N>
void softmax(const logit_t logits[MAX_N], int n, int frac, attn_prob_t out[MAX_N]) {
  typedef ap_uint<22 + ubits(MAX_N)> total_t;
  exp_t e[MAX_N];
  logit_t m = logits[0];
  for (int j = 1; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_N
#pragma HLS PIPELINE II = 1
    if (logits[j] > m) m = logits[j];
  }
  total_t total = 0;
  for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_N
#pragma HLS PIPELINE II = 1
    e[j] = exp_poly(exp_arg(ap_uint<33>(ap_int<34>(m) - logits[j]), frac));
    total += e[j];
  }
  const ap_uint<33> one = ap_uint<33>(1) << kSoftmaxRecipBits;
  const ap_uint<33> recip = one / (total > 0 ? total : total_t(1));
  const int shift = kSoftmaxRecipBits - kSoftmaxOutFrac;
  for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_N
#pragma HLS PIPELINE II = 1
    const ap_uint<56> o = (ap_uint<56>(e[j]) * recip + (ap_uint<56>(1) << (shift - 1))) >> shift;
    out[j] = attn_prob_t(o < kSoftmaxOutMax ? o : ap_uint<56>(kSoftmaxOutMax));
  }
}

}  // namespace sievit

#endif  // SIEVIT_SOFTMAX_H_
