// Score sources of the token-reduction methods, produced by the attention engine while it
// produces its probabilities (golden: quant/reduce.py, same names): size_bias (proportional
// attention), cls_attention (EViT, PPT), cpvit_accumulate (CP-ViT: Σ_h max_i A_h[i, j] and
// each head's mass), ppt_score (CLS attention x isqrt(|v|^2)) and unit_keys (ToMe / PPT
// matching metric). docs/numerics.md, "Reduction methods".
#ifndef SIEVIT_SCORES_H_
#define SIEVIT_SCORES_H_

#include "types.h"

namespace sievit {

static const int kLogSizeFrac = 16;  // ln(size) table: round(ln(s) * 2^16)
static const int kSimUnitFrac = 7;   // unit keys: length 2^7

// Which score sources an attention call produces (bit flags). CLS attention, Σ_h max and the
// head masses come with every call (a few adders beside the softmax); kWantPpt and kWantUnit
// gate the per-row isqrt and divide work of the PPT score and the unit keys.
enum ScoreWant { kWantCls = 1, kWantMax = 2, kWantPpt = 4, kWantUnit = 8, kWantMass = 16,
                 kWantKsum = 32 };

template <class CFG>
struct score_types {
  typedef ap_uint<ubits(CFG::max_n)> size_t_;                         // tokens a row stands for
  typedef ap_uint<ubits(255 * CFG::max_heads)> cls_t;                 // Σ_h A_h[0, j]
  typedef ap_uint<ubits(255ull * CFG::max_heads * CFG::depth)> cum_t; // Σ_blocks Σ_h max_i A
  typedef ap_uint<ubits(255ull * CFG::max_heads * CFG::max_n * CFG::depth)> mass_t;
  typedef ap_uint<ubits(16384ull * CFG::max_w)> vsq_t;                // Σ_c v_c^2
  typedef ap_uint<(ubits(16384ull * CFG::max_w) + 1) / 2> vnorm_t;
  typedef ap_uint<ubits(255ull * CFG::max_heads) + (ubits(16384ull * CFG::max_w) + 1) / 2> ppt_t;
  typedef ap_int<9> unit_t;                                           // |u_c| <= 128
  typedef ap_int<ubits(16384ull * CFG::max_w) + 1> sim_t;             // u_i . u_j
  typedef ap_int<ubits(128ull * CFG::max_w) + 1> ksum_t;              // Σ_c k_c of a row
};

// Method inputs and score outputs of one attention call (one image).
template <class CFG>
struct attn_method {
  typedef score_types<CFG> T;
  // inputs
  int want;                                 // ScoreWant flags
  bool prop;                                // proportional attention: + ln(size_j) on logits
  typename T::size_t_ size[CFG::max_n];     // live rows' sizes
  const int* log_size;                      // [max_n + 1]: round(ln(s) * 2^16)
  bool head_on[CFG::max_heads];             // false: the head is pruned (skipped)
  bool chan;                                // CAIT: channel masks below apply
  bool qk_on[CFG::max_w], v_on[CFG::max_w];  // CAIT: live Q/K and V channels (tiled over heads)
  bool emb;                                 // PRANCE: the embedding width below applies
  bool emb_on[CFG::max_w];                  // PRANCE: live residual channels (input / output)
  // outputs
  typename T::cls_t cls[CFG::max_n];        // kWantCls / kWantPpt: CLS attention, j >= 1
  typename T::cls_t mx[CFG::max_n];         // kWantMax: Σ_h max_i A_h[i, j], j >= 1
  typename T::mass_t mass[CFG::max_heads];  // kWantMass: Σ_{j >= 1} max_i A_h[i, j]
  typename T::ppt_t ppt[CFG::max_n];        // kWantPpt: cls_j * isqrt(|v_j|^2)
  typename T::unit_t u[CFG::max_n][CFG::max_w];  // kWantUnit: unit keys (head_dim wide)
  typename T::ksum_t ksum[CFG::max_n];      // kWantKsum: Σ_c k_c over all heads (PRANCE)
};

template <class CFG>
void attn_method_off(attn_method<CFG>& m) {
  m.want = 0;
  m.prop = false;
  m.log_size = 0;
  m.chan = false;
  m.emb = false;
  for (int h = 0; h < CFG::max_heads; ++h) m.head_on[h] = true;
}

// Proportional attention: ln(size) at the logits' frac (round half to even).
inline ap_int<32> size_bias(const int* log_size, int size, int frac) {
  const ap_int<32> l = log_size[size > 0 ? size : 1];
  const int s = kLogSizeFrac - frac;
  return s > 0 ? shr_rne<32>(l, s) : ap_int<32>(l << -s);
}

// ToMe's matching metric of one row: keys summed over heads, scaled to length 2^7:
// u = round(kbar * 2^7 / max(isqrt(|kbar|^2), 1)).
template <class CFG>
void unit_keys(const act_t k[CFG::max_w], int heads, int head_dim,
               typename score_types<CFG>::unit_t u[CFG::max_w]) {
  typedef ap_int<9 + ubits(CFG::max_heads)> kbar_t;
  typedef ap_uint<ubits(16384ull * CFG::max_heads * CFG::max_heads * CFG::max_w)> ksq_t;
  kbar_t kbar[CFG::max_w];
  ksq_t sq = 0;
  for (int c = 0; c < head_dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
    kbar_t s = 0;
    for (int h = 0; h < CFG::max_heads; ++h) {
#pragma HLS UNROLL
      if (h < heads) s += k[h * head_dim + c];
    }
    kbar[c] = s;
    sq += ksq_t(s * s);
  }
  const ap_uint<(ksq_t::width + 1) / 2> r = isqrt<ksq_t::width>(sq);
  const ap_uint<(ksq_t::width + 1) / 2> norm = r > 0 ? r : ap_uint<(ksq_t::width + 1) / 2>(1);
  for (int c = 0; c < head_dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
    const ap_int<kbar_t::width + kSimUnitFrac> num = ap_int<kbar_t::width + kSimUnitFrac>(kbar[c]) << kSimUnitFrac;
    u[c] = typename score_types<CFG>::unit_t(
        div_round<kbar_t::width + kSimUnitFrac, (ksq_t::width + 1) / 2>(num, norm));
  }
}

// PPT's importance of one row: CLS attention times isqrt(Σ_c v_c^2) over the whole row.
template <class CFG>
typename score_types<CFG>::ppt_t ppt_score(typename score_types<CFG>::cls_t cls,
                                           const act_t v[CFG::max_w], int dim) {
  typedef score_types<CFG> T;
  typename T::vsq_t sq = 0;
  for (int c = 0; c < dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
    sq += typename T::vsq_t(v[c] * v[c]);
  }
  const typename T::vnorm_t nrm = isqrt<T::vsq_t::width>(sq);
  return typename T::ppt_t(cls) * nrm;
}

}  // namespace sievit

#endif  // SIEVIT_SCORES_H_
