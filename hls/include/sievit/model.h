// The whole model: patch_embed -> depth x (LN1, attention, LN2, mlp) with a pruning stage
// before each selector block -> head. The token count is a runtime value: every engine
// loops over the live rows only, so pruned tokens cost no cycles downstream.
#ifndef SIEVIT_MODEL_H_
#define SIEVIT_MODEL_H_

#include "attention.h"
#include "head.h"
#include "layernorm.h"
#include "mlp.h"
#include "patch_embed.h"
#include "pruning.h"

namespace sievit {

template <class CFG>
struct model_desc {
  patch_embed_desc embed;
  layernorm_desc ln1[CFG::depth];
  attention_desc attn[CFG::depth];
  layernorm_desc ln2[CFG::depth];
  mlp_desc mlp[CFG::depth];
  selector_desc<CFG::max_heads> sel[CFG::stages];
  int sel_block[CFG::stages];  // the block each selector sits before (0-based)
  int topk_keep[CFG::stages];  // top-k mode: patches kept (topk_tokens - 2)
  head_desc head;
};

// mode: kModeNone, kModeThreshold or kModeTopk. kept[s]: original ids of the tokens kept at
// stage s (package excluded), padded with kEmptyId; n_tokens[s]: tokens after stage s.
// No DATAFLOW here: every stage reads the whole output of the one before (attention needs
// all keys, the selector all scores) and the token count it leaves sets the next trip
// counts; the overlap is inside the engines (II = 1 loops) and in the stand-alone tops.
template <class CFG>
void model(const model_desc<CFG>& d, const pixel_t* image, const ap_uint<CFG::word_bits>* wmem,
           const ap_uint<CFG::word_bits>* bmem, int mode, acc_t logits[CFG::max_classes],
           tok_id_t kept[CFG::stages][CFG::max_n], tok_id_t n_tokens[CFG::stages]) {
  static act_t x[CFG::max_n][CFG::max_w], h[CFG::max_n][CFG::max_w];
  static act_t x1[CFG::max_n][CFG::max_w], x2[CFG::max_n][CFG::max_w];
  static tok_id_t ids[CFG::max_n], ids2[CFG::max_n];
  static prob_t score[CFG::max_n];
#pragma HLS ARRAY_PARTITION variable = x cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = h cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = x1 cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = x2 cyclic factor = CFG::lanes dim = 2
  patch_embed<CFG>(d.embed, image, wmem, bmem, x);
  int n = d.embed.grid * d.embed.grid + 1;
  for (int t = 0; t < CFG::max_n; ++t) ids[t] = t < n ? tok_id_t(t) : tok_id_t(kEmptyId);
  for (int s = 0; s < CFG::stages; ++s) {
    n_tokens[s] = n;
    for (int t = 0; t < CFG::max_n; ++t) kept[s][t] = kEmptyId;
  }
  int stage = 0;
  for (int i = 0; i < CFG::depth; ++i) {
    if (mode != kModeNone && stage < CFG::stages && d.sel_block[stage] == i) {
      pruning_score<CFG>(d.sel[stage], x, n, wmem, bmem, score);
      int fused = 0;
      n = pruning_select<CFG>(x, ids, n, score, mode, d.topk_keep[stage], d.embed.lin.n_out, x2,
                              ids2, fused);
      int m = 0;
      for (int t = 0; t < CFG::max_n; ++t) {
        ids[t] = ids2[t];
        if (t < n) {
          for (int c = 0; c < d.embed.lin.n_out; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
            x[t][c] = x2[t][c];
          }
          if (ids2[t] >= 0) kept[stage][m++] = ids2[t];
        }
      }
      n_tokens[stage] = n;
      ++stage;
    }
    layernorm<CFG>(d.ln1[i], x, n, wmem, bmem, h);
    attention<CFG>(d.attn[i], h, x, n, wmem, bmem, x1);
    layernorm<CFG>(d.ln2[i], x1, n, wmem, bmem, h);
    mlp<CFG>(d.mlp[i], h, x1, n, wmem, bmem, x);
  }
  head<CFG>(d.head, x, wmem, bmem, logits);
}

}  // namespace sievit

#endif  // SIEVIT_MODEL_H_
