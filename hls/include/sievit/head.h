// Engine `head`: final LayerNorm of the CLS row, then the classifier: int32 logits.
#ifndef SIEVIT_HEAD_H_
#define SIEVIT_HEAD_H_

#include "layernorm.h"
#include "linear.h"

namespace sievit {

struct head_desc {
  layernorm_desc ln;
  linear_desc fc;  // kRaw
};

template <class CFG>
void head(const head_desc& d, const act_t x[CFG::max_n][CFG::max_w],
          const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
          acc_t logits[CFG::max_classes]) {
  static act_t h[CFG::max_n][CFG::max_w];
  static acc_t raw[1][CFG::max_classes];
#pragma HLS ARRAY_PARTITION variable = h cyclic factor = CFG::lanes dim = 2
  layernorm<CFG>(d.ln, x, 1, wmem, bmem, h);
  raw_sink<CFG, CFG::max_classes> sink = {raw};
  linear_core<CFG>(d.fc, h, 1, wmem, bmem, sink);
  for (int o = 0; o < d.fc.n_out; ++o) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_classes
#pragma HLS PIPELINE II = 1
    logits[o] = raw[0][o];
  }
}

}  // namespace sievit

#endif  // SIEVIT_HEAD_H_
