// The whole model: patch_embed -> depth x (LN1, attention, LN2, mlp) with a pruning stage
// before each selector block -> head. The token count is a runtime value: every engine
// loops over the live rows only, so pruned tokens cost no cycles downstream.
// mode kModeReduce runs the bundle's reduction method instead (EViT, ToMe, PPT, CP-ViT,
// CAIT, PRANCE):
// each block's attention produces the method's scores (attention_m), the reduce engine
// (reduce.h) acts on the attention output right after a stage block's attention, so the MLP
// and every later block run on the reduced set (quant/golden_reduce.py).
#ifndef SIEVIT_MODEL_H_
#define SIEVIT_MODEL_H_

#include "attention.h"
#include "head.h"
#include "layernorm.h"
#include "mlp.h"
#include "patch_embed.h"
#include "pruning.h"
#include "reduce.h"

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
  reduce_desc<CFG> red;
  gate_desc gate[CFG::depth];  // CAIT's CDCP gates (reduce_desc.gate_of)
  actor_desc actor[CFG::stages];  // PRANCE's actors, one per stage
};

static const int kModeReduce = 3;

// Zero the channels c < dim of the first n rows with !on[c] (PRANCE's embedding width).
template <class CFG>
void mask_channels(act_t x[CFG::max_n][CFG::max_w], int n, int dim, const bool on[CFG::max_w]) {
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    for (int c = 0; c < dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
      if (!on[c]) x[t][c] = 0;
    }
  }
}

// One stage of the reduction method on the attention output x1 (in place).
template <class CFG>
int reduce_stage(const model_desc<CFG>& d, int stage, act_t x1[CFG::max_n][CFG::max_w],
                 token_meta<CFG>& tm, int n, const attn_method<CFG>& am) {
  const int dim = d.embed.lin.n_out, dh = d.attn[0].head_dim, heads = d.attn[0].heads;
  const int m_cand = n - 1;
  bool pooled = false;
  switch (d.red.method) {
    case kMethodEvit:
      return evit_fuse<CFG>(x1, tm, n, dim, am.cls, d.red.keep_n[stage][m_cand], heads);
    case kMethodCpvit:
      return drop_topk<CFG>(x1, tm, n, dim, tm.cum, d.red.keep_n[stage][m_cand]);
    case kMethodTome:
      return bipartite_merge<CFG>(x1, tm, n, dim, am.u, dh, d.red.r);
    case kMethodPpt:
      return ppt_reduce<CFG>(x1, tm, n, dim, am.ppt, am.u, dh, d.red.r, d.red.tau, pooled);
    case kMethodCait:
      return atme_merge<CFG>(x1, tm, n, dim, am.cls, am.u, dh, d.embed.grid, d.red.win_rows[stage],
                             d.red.win_cols[stage], d.red.merge_r[stage]);
    default:
      return n;
  }
}

// The methods' model: mode kModeReduce (kModeNone runs model() dense).
template <class CFG>
void model_reduce(const model_desc<CFG>& d, const pixel_t* image,
                  const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
                  acc_t logits[CFG::max_classes], tok_id_t kept[CFG::stages][CFG::max_n],
                  tok_id_t n_tokens[CFG::stages]) {
  typedef score_types<CFG> ST;
  static act_t x[CFG::max_n][CFG::max_w], h[CFG::max_n][CFG::max_w];
  static act_t x1[CFG::max_n][CFG::max_w];
  static token_meta<CFG> tm;
  static attn_method<CFG> am;
#pragma HLS ARRAY_PARTITION variable = x cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = h cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = x1 cyclic factor = CFG::lanes dim = 2
  const int method = d.red.method;
  patch_embed<CFG>(d.embed, image, wmem, bmem, x);
  int n = d.embed.grid * d.embed.grid + 1;
  for (int t = 0; t < CFG::max_n; ++t) {
    tm.ids[t] = t < n ? tok_id_t(t) : tok_id_t(kEmptyId);
    tm.size[t] = 1;
    tm.cum[t] = 0;
  }
  for (int s = 0; s < CFG::stages; ++s) {
    n_tokens[s] = n;
    for (int t = 0; t < CFG::max_n; ++t) kept[s][t] = kEmptyId;
  }
  attn_method_off<CFG>(am);
  am.log_size = d.red.log_size;
  am.prop = method == kMethodTome || method == kMethodPpt || method == kMethodCait ||
            method == kMethodPrance;
  bool widths_on = false;  // PRANCE: the embedding / MLP widths its last actor chose
  bool mlp_on[CFG::max_w];
  static acc_t gate_logits[CFG::max_n][CFG::max_out];
  bool hid_on[CFG::max_w], qk1[CFG::max_w], v1[CFG::max_w];
  const int dh = d.attn[0].head_dim;
  typename ST::mass_t head_score[CFG::max_heads];
  for (int hd = 0; hd < CFG::max_heads; ++hd) head_score[hd] = 0;
  const int heads = d.attn[0].heads;
  int stage = 0;
  for (int i = 0; i < CFG::depth; ++i) {
    const bool heads_cut = method == kMethodCpvit && d.red.heads_pruned > 0 && i >= d.red.head_block;
    if (heads_cut && i == d.red.head_block)
      cpvit_head_mask<CFG>(head_score, heads, d.red.heads_pruned, am.head_on);
    const bool at_stage = stage < CFG::stages && d.sel_block[stage] == i;
    const bool gated = method == kMethodCait && d.red.gate_of[i] >= 0;
    am.chan = gated;
    if (gated) {  // CAIT: this block's channel masks from its gate, shared by all heads
      cdcp_gate<CFG>(d.gate[d.red.gate_of[i]], x, n, wmem, bmem, gate_logits);
      topk_channels<CFG::max_w>(gate_logits[0], 0, dh, d.red.counts[0], qk1);
      topk_channels<CFG::max_w>(gate_logits[0], dh, dh, d.red.counts[1], v1);
      topk_channels<CFG::max_w>(gate_logits[0], 2 * dh, d.mlp[i].fc1.n_out, d.red.counts[2], hid_on);
      for (int c = 0; c < heads * dh; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
        am.qk_on[c] = qk1[c % dh];
        am.v_on[c] = v1[c % dh];
      }
    }
    am.want = kWantCls | kWantMax;
    if (at_stage && method == kMethodPpt) am.want |= kWantPpt | kWantUnit;
    if (at_stage && (method == kMethodTome || method == kMethodCait)) am.want |= kWantUnit;
    if (at_stage && method == kMethodPrance) am.want |= kWantKsum;
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
      am.size[t] = tm.size[t];
    }
    layernorm<CFG>(d.ln1[i], x, n, wmem, bmem, h);
    am.emb = widths_on;
    if (widths_on) mask_channels<CFG>(h, n, d.embed.lin.n_out, am.emb_on);
    attention_m<CFG>(d.attn[i], h, x, n, wmem, bmem, x1, am);
    if (method == kMethodCpvit) {  // cumulative patch score; head masses until heads are cut
      for (int t = 1; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
        tm.cum[t] += am.mx[t];
      }
      for (int hd = 0; hd < heads && !heads_cut; ++hd) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_heads
        head_score[hd] += am.mass[hd];
      }
    }
    if (at_stage && method == kMethodPrance) {  // the actor picks widths and the keep ratio
      int pick[kPranceOutputs];
      prance_actor<CFG>(d.actor[stage], d.red, stage, am.ksum, n, d.embed.grid * d.embed.grid + 1,
                        d.embed.lin.n_out, wmem, bmem, pick);
      for (int c = 0; c < CFG::max_w; ++c) {
        am.emb_on[c] = c < d.red.embed_widths[pick[1]];
        mlp_on[c] = c < d.red.mlp_widths[pick[0]];
      }
      widths_on = true;
      n = prance_token_step<CFG>(x1, tm, n, d.embed.lin.n_out, am.cls, d.red.keep_of[pick[2]][n - 1],
                                 d.red.token_merge != 0);
    } else if (at_stage) {
      n = reduce_stage<CFG>(d, stage, x1, tm, n, am);
    }
    if (at_stage) {
      int m = 0;
      for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
        if (tm.ids[t] >= 0) kept[stage][m++] = tm.ids[t];
      }
      n_tokens[stage] = n;
      ++stage;
    }
    layernorm<CFG>(d.ln2[i], x1, n, wmem, bmem, h);
    if (widths_on) {
      mask_channels<CFG>(h, n, d.embed.lin.n_out, am.emb_on);
      mlp_m<CFG>(d.mlp[i], h, x1, n, wmem, bmem, x, true, mlp_on, am.emb_on);
    } else {
      mlp_m<CFG>(d.mlp[i], h, x1, n, wmem, bmem, x, gated, hid_on);
    }
  }
  head<CFG>(d.head, x, wmem, bmem, logits);
}

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
  if (mode == kModeReduce) {
    model_reduce<CFG>(d, image, wmem, bmem, logits, kept, n_tokens);
    return;
  }
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
