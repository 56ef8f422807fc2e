// Engine `softmax`: I-BERT integer softmax over the first n (live) keys of one row
// (docs/numerics.md, "Softmax"). Output: unsigned probabilities at frac 8, [0, 255].
#ifndef SIEVIT_SOFTMAX_H_
#define SIEVIT_SOFTMAX_H_

#include "types.h"

namespace sievit {

static const int kExpFrac = 10;
static const i64 kExpLn2 = 710;
static const i64 kExpB = 1385;
static const i64 kExpC = 1006151;
static const int kExpMaxShift = 31;
static const int kSoftmaxRecipBits = 32;
static const int kSoftmaxOutFrac = 8;
static const i64 kSoftmaxOutMax = 255;

typedef ap_uint<8> attn_prob_t;

template <int MAX_N>
void softmax(const i64 logits[MAX_N], int n, int frac, attn_prob_t out[MAX_N]) {
  i64 e[MAX_N];
  i64 m = logits[0];
  for (int j = 1; j < n; ++j) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX_N)
SIEVIT_HLS(HLS PIPELINE II = 1)
    if (logits[j] > m) m = logits[j];
  }
  i64 total = 0;
  for (int j = 0; j < n; ++j) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX_N)
SIEVIT_HLS(HLS PIPELINE II = 1)
    const i64 dx = rshift_floor(logits[j] - m, frac - kExpFrac);  // <= 0
    const i64 z = (-dx) / kExpLn2;                                 // floor: -dx >= 0
    const i64 p = dx + z * kExpLn2;
    const i64 poly = (p + kExpB) * (p + kExpB) + kExpC;
    e[j] = poly >> (z < kExpMaxShift ? z : i64(kExpMaxShift));
    total += e[j];
  }
  const i64 recip = (1LL << kSoftmaxRecipBits) / (total > 0 ? total : 1);
  const int shift = kSoftmaxRecipBits - kSoftmaxOutFrac;
  for (int j = 0; j < n; ++j) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX_N)
SIEVIT_HLS(HLS PIPELINE II = 1)
    const i64 o = (e[j] * recip + (1LL << (shift - 1))) >> shift;
    out[j] = attn_prob_t(o < kSoftmaxOutMax ? o : kSoftmaxOutMax);
  }
}

}  // namespace sievit

#endif  // SIEVIT_SOFTMAX_H_
