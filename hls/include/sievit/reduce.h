// Engine `reduce`: the token-reduction methods' actions on one image's live token set
// after a block's attention (golden: quant/reduce.py, same names). Rows are compacted in
// place (CLS first, order kept); every row carries its id (kPkgId for a fused token), its
// size (original tokens it stands for) and CP-ViT's cumulative score.
//   evit_fuse   keep the k most CLS-attended candidates, fuse the rest into one extra token
//   drop_topk   keep the k best-scored candidates, drop the rest (CP-ViT, PPT prune)
//   bipartite_merge  ToMe: A (even rows) to B (odd rows) by integer similarity of unit
//               keys, the r best pairs merge by size-weighted average, sizes add
//   ppt_reduce  PPT: pool (bipartite_merge) when the score variance is below tau, else drop
//   atme_merge  CAIT: in each window of the patch grid the most CLS-attended patch is the
//               anchor; the r members most similar to their anchor merge into it
//   cpvit_head_mask  the weakest heads by max-attention mass are pruned
//   cdcp_gate / topk_channels  CAIT's channel gate (linear engine) and per-group top-k
//   prance_actor  PRANCE's actor MLP (linear engine): widths and token keep ratio per image
//   prance_token_step  PRANCE: keep the most CLS-attended patches, the rest merge into their
//               most similar kept patch by plain average (or are dropped)
// Candidates are the live rows after CLS; ties always go to the lower row.
#ifndef SIEVIT_REDUCE_H_
#define SIEVIT_REDUCE_H_

#include "linear.h"
#include "scores.h"

namespace sievit {

enum Method { kMethodHeatvit = 0, kMethodEvit = 1, kMethodTome = 2, kMethodPpt = 3, kMethodCpvit = 4,
              kMethodCait = 5, kMethodPrance = 6 };

static const int kPranceChoices = 8;  // most choices per PRANCE actor output
static const int kPranceOutputs = 3;  // MLP width, embedding width, token keep ratio

template <class CFG>
struct reduce_desc {
  int method;                               // Method
  int r;                                    // ToMe / PPT: merges (or drops) per stage
  int tau;                                  // PPT: round(tau * 2^40)
  int head_block, heads_pruned;             // CP-ViT heads
  int keep_n[CFG::stages][CFG::max_n + 1];  // EViT / CP-ViT: kept candidates for m candidates
  int log_size[CFG::max_n + 1];             // round(ln(s) * 2^16), s = 0 .. max_n
  int merge_r[CFG::stages];                 // CAIT: ATME merges per stage
  int win_rows[CFG::stages], win_cols[CFG::stages];  // CAIT: ATME window per stage
  int gate_of[CFG::depth];                  // CAIT: CDCP gate index of block i, -1 none
  int counts[3];                            // CAIT: kept QK, V (per head) and MLP channels
  // PRANCE: the actor's cost input, choices per output, logit thresholds per stage and output
  // (ceil(atanh(2j/n - 1) 2^frac), ascending), the widths and kept patches of each choice
  int cost_code;
  int n_choices[kPranceOutputs];
  int thr[CFG::stages][kPranceOutputs][kPranceChoices];
  int mlp_widths[kPranceChoices], embed_widths[kPranceChoices];
  int keep_of[kPranceChoices][CFG::max_n + 1];  // floor(rho m) for m candidates
  int token_merge;                          // 1: dropped patches merge; 0: pruned
};

static const int kPptTauFrac = 40;

// The live tokens of one image besides their activations.
template <class CFG>
struct token_meta {
  tok_id_t ids[CFG::max_n];
  typename score_types<CFG>::size_t_ size[CFG::max_n];
  typename score_types<CFG>::cum_t cum[CFG::max_n];
};

// keep[t] for t >= 1: candidate t ranks among the k best scores (ties to the lower row).
template <class CFG, class S>
void topk_keep(const S score[CFG::max_n], int n, int k, bool keep[CFG::max_n]) {
  keep[0] = false;
  for (int t = 1; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    int rank = 0;
    for (int j = 1; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
      if (score[j] > score[t] || (score[j] == score[t] && j < t)) ++rank;
    }
    keep[t] = rank < k;
  }
}

// In place: rows 0 and keep[t] stay, in order. Returns the new count.
template <class CFG>
int compact(act_t x[CFG::max_n][CFG::max_w], token_meta<CFG>& tm, int n, int dim,
            const bool keep[CFG::max_n]) {
  int m = 0;
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    if (t == 0 || keep[t]) {
      if (m != t) {
        for (int c = 0; c < dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
          x[m][c] = x[t][c];
        }
        tm.ids[m] = tm.ids[t];
        tm.size[m] = tm.size[t];
        tm.cum[m] = tm.cum[t];
      }
      ++m;
    }
  }
  for (int t = m; t < CFG::max_n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = CFG::max_n
    tm.ids[t] = kEmptyId;
  }
  return m;
}

// EViT: keep the k candidates with the highest CLS attention a; the others fuse into one
// token Σ a_j x_j / (heads * 2^8) (rounded half up, saturated), appended last.
template <class CFG>
int evit_fuse(act_t x[CFG::max_n][CFG::max_w], token_meta<CFG>& tm, int n, int dim,
              const typename score_types<CFG>::cls_t a[CFG::max_n], int k, int heads) {
  typedef ap_int<9 + ubits(255 * CFG::max_heads) + ubits(CFG::max_n)> num_t;
  bool keep[CFG::max_n];
  topk_keep<CFG>(a, n, k, keep);
  bool any = false;
  for (int t = 1; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    any |= !keep[t];
  }
  act_t extra[CFG::max_w];
  const ap_uint<ubits(256 * CFG::max_heads)> den = ap_uint<ubits(256 * CFG::max_heads)>(heads) << 8;
  for (int c = 0; c < dim && any; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
    num_t num = 0;
    for (int t = 1; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
      if (!keep[t]) num += x[t][c] * a[t];
    }
    extra[c] = sat8<num_t::width>(div_round<num_t::width, ubits(256 * CFG::max_heads)>(num, den));
  }
  int m = compact<CFG>(x, tm, n, dim, keep);
  if (any) {
    for (int c = 0; c < dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
      x[m][c] = extra[c];
    }
    tm.ids[m] = kPkgId;
    tm.size[m] = 1;
    tm.cum[m] = 0;
    ++m;
  }
  return m;
}

// Keep the k best-scored candidates, drop the rest.
template <class CFG, class S>
int drop_topk(act_t x[CFG::max_n][CFG::max_w], token_meta<CFG>& tm, int n, int dim,
              const S score[CFG::max_n], int k) {
  bool keep[CFG::max_n];
  topk_keep<CFG>(score, n, k, keep);
  return compact<CFG>(x, tm, n, dim, keep);
}

// Every row with merge[i] joins row dst[i]: each target becomes Σ size x / Σ size over
// itself and its sources (rounded half up, saturated), sizes add. Sources stay in place.
// weighted = false (PRANCE): a plain average, every row weighs 1; sizes still add.
template <class CFG>
void merge_weighted(act_t x[CFG::max_n][CFG::max_w], token_meta<CFG>& tm, int n, int dim,
                    const bool merge[CFG::max_n], const int dst[CFG::max_n], bool weighted = true) {
  typedef score_types<CFG> ST;
  typedef ap_int<9 + 2 * ubits(CFG::max_n)> wsum_t;  // Σ size * int8
  for (int j = 1; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    typename ST::size_t_ size = tm.size[j];
    typename ST::size_t_ den = weighted ? tm.size[j] : typename ST::size_t_(1);
    bool has = false;
    for (int i = 1; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
      if (merge[i] && dst[i] == j) {
        size += tm.size[i];
        den += weighted ? tm.size[i] : typename ST::size_t_(1);
        has = true;
      }
    }
    if (!has) continue;
    for (int c = 0; c < dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
      wsum_t num = weighted ? wsum_t(wsum_t(x[j][c]) * tm.size[j]) : wsum_t(x[j][c]);
      for (int i = 1; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
        if (merge[i] && dst[i] == j)
          num += weighted ? wsum_t(wsum_t(x[i][c]) * tm.size[i]) : wsum_t(x[i][c]);
      }
      x[j][c] = sat8<wsum_t::width>(div_round<wsum_t::width, ST::size_t_::width>(num, den));
    }
    tm.size[j] = size;
  }
}

// ToMe bipartite soft matching, r merges at most ((n - 1) / 2): A = even rows >= 2, B = odd
// rows. Each A row finds its most similar B row (first maximum); the r A rows of highest
// similarity merge into theirs: target = Σ size x / Σ size over the target and its sources
// (rounded half up, saturated), sizes add, sources are removed. Returns the new count.
template <class CFG>
int bipartite_merge(act_t x[CFG::max_n][CFG::max_w], token_meta<CFG>& tm, int n, int dim,
                    const typename score_types<CFG>::unit_t u[CFG::max_n][CFG::max_w],
                    int head_dim, int r) {
  typedef typename score_types<CFG>::sim_t sim_t;
  const int r_img = r < (n - 1) / 2 ? r : (n - 1) / 2;
  if (r_img <= 0) return n;
  sim_t node[CFG::max_n];
  int dst[CFG::max_n] = {};
  for (int i = 2; i < n; i += 2) {  // A rows
#pragma HLS LOOP_TRIPCOUNT min = 0 max = CFG::max_n / 2
    sim_t best = 0;
    int arg = -1;
    for (int j = 1; j < n; j += 2) {  // B rows
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n / 2
      sim_t s = 0;
      for (int c = 0; c < head_dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
        s += u[i][c] * u[j][c];
      }
      if (arg < 0 || s > best) {
        best = s;
        arg = j;
      }
    }
    node[i] = best;
    dst[i] = arg;
  }
  bool merge[CFG::max_n] = {};
  for (int i = 0; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    merge[i] = false;
    if (i % 2 == 1 || i == 0) dst[i] = i;
  }
  for (int i = 2; i < n; i += 2) {  // top r_img of the A rows by similarity
#pragma HLS LOOP_TRIPCOUNT min = 0 max = CFG::max_n / 2
    int rank = 0;
    for (int j = 2; j < n; j += 2) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = CFG::max_n / 2
#pragma HLS PIPELINE II = 1
      if (node[j] > node[i] || (node[j] == node[i] && j < i)) ++rank;
    }
    merge[i] = rank < r_img;
  }
  merge_weighted<CFG>(x, tm, n, dim, merge, dst);
  bool keep[CFG::max_n];
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    keep[t] = !merge[t];
  }
  return compact<CFG>(x, tm, n, dim, keep);
}

// PPT's choice: pool where the variance of p = s / Σ s is below tau, exactly:
// Σ s == 0, or (M Σ s^2 - (Σ s)^2) 2^40 < tau_i M^2 (Σ s)^2.
template <class CFG>
bool ppt_pool(const typename score_types<CFG>::ppt_t s[CFG::max_n], int n, int tau) {
  typedef ap_uint<2 * score_types<CFG>::ppt_t::width + ubits(CFG::max_n)> sq_t;
  typedef ap_uint<score_types<CFG>::ppt_t::width + ubits(CFG::max_n)> tot_t;
  typedef ap_uint<2 * tot_t::width + 2 * ubits(CFG::max_n) + 32 + kPptTauFrac> big_t;
  tot_t tot = 0;
  sq_t sq = 0;
  for (int t = 1; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
    tot += s[t];
    sq += sq_t(s[t]) * s[t];
  }
  if (tot == 0) return true;
  const big_t m = n - 1;
  const big_t t2 = big_t(tot) * tot;
  const big_t lhs = (m * sq - t2) << kPptTauFrac;  // >= 0 (Cauchy-Schwarz)
  const big_t rhs = big_t(tau) * m * m * t2;
  return lhs < rhs;
}

// PPT: pool (ToMe merge of r) or drop the r_img lowest-scored candidates. pooled: the choice.
template <class CFG>
int ppt_reduce(act_t x[CFG::max_n][CFG::max_w], token_meta<CFG>& tm, int n, int dim,
               const typename score_types<CFG>::ppt_t s[CFG::max_n],
               const typename score_types<CFG>::unit_t u[CFG::max_n][CFG::max_w], int head_dim,
               int r, int tau, bool& pooled) {
  const int r_img = r < (n - 1) / 2 ? r : (n - 1) / 2;
  pooled = ppt_pool<CFG>(s, n, tau);
  if (pooled) return bipartite_merge<CFG>(x, tm, n, dim, u, head_dim, r);
  return drop_topk<CFG>(x, tm, n, dim, s, n - 1 - r_img);
}

// CAIT's ATME (our interpretation, quant/reduce.py atme_merge): windows of win_r x win_c
// tile the original patch grid (window from the token id); each window's anchor is its live
// patch with the highest CLS attention (ties: lower row); of the other members, the r most
// similar to their anchor (unit keys; ties: lower row) merge into it, size-weighted.
template <class CFG>
int atme_merge(act_t x[CFG::max_n][CFG::max_w], token_meta<CFG>& tm, int n, int dim,
               const typename score_types<CFG>::cls_t a[CFG::max_n],
               const typename score_types<CFG>::unit_t u[CFG::max_n][CFG::max_w], int head_dim,
               int grid, int win_r, int win_c, int r) {
  typedef typename score_types<CFG>::sim_t sim_t;
  int wid[CFG::max_n], anchor[CFG::max_n] = {};
  bool member[CFG::max_n] = {}, merge[CFG::max_n] = {};
  sim_t sim[CFG::max_n];
  const int per_row = (grid + win_c - 1) / win_c;
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    const int id = tm.ids[t];
    wid[t] = t > 0 && id > 0 ? ((id - 1) / grid / win_r) * per_row + ((id - 1) % grid) / win_c : -1 - t;
  }
  int members = 0;
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    int best = -1;
    for (int j = 0; j < n; ++j) {  // the first (lowest) row of the highest attention
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
      if (wid[t] >= 0 && wid[j] == wid[t] && (best < 0 || a[j] > a[best])) best = j;
    }
    if (best < 0) best = t;  // not a patch: its own anchor
    anchor[t] = best;
    member[t] = t > 0 && best != t;
    members += member[t];
  }
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    sim_t s = 0;
    for (int c = 0; c < head_dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
      s += u[t][c] * u[anchor[t]][c];
    }
    sim[t] = s;
  }
  const int r_img = r < members ? r : members;
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    int rank = 0;
    for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
      if (member[j] && (sim[j] > sim[t] || (sim[j] == sim[t] && j < t))) ++rank;
    }
    merge[t] = member[t] && rank < r_img;
  }
  merge_weighted<CFG>(x, tm, n, dim, merge, anchor);
  bool keep[CFG::max_n];
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    keep[t] = !merge[t];
  }
  return compact<CFG>(x, tm, n, dim, keep);
}

// CAIT's CDCP gate: the mean of the block input over its live rows -> fc1 (requant) -> ReLU
// -> fc2: raw keep logits of the QK, V and MLP-hidden channel groups (linear engine).
struct gate_desc {
  linear_desc fc1;  // kRequant to the gate's mid activation
  linear_desc fc2;  // kRaw: 2 * head_dim + mlp_dim logits
};

template <class CFG>
void cdcp_gate(const gate_desc& g, const act_t x[CFG::max_n][CFG::max_w], int n,
               const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
               acc_t logits[CFG::max_n][CFG::max_out]) {
  typedef ap_int<9 + ubits(CFG::max_n)> gsum_t;
  static act_t mean[CFG::max_n][CFG::max_w], mid[CFG::max_n][CFG::max_w];
  const ap_uint<ubits(CFG::max_n)> cnt = n;
  for (int c = 0; c < g.fc1.n_in; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
    gsum_t s = 0;
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
#pragma HLS PIPELINE II = 1
      s += x[t][c];
    }
    mean[0][c] = act_t(div_round<gsum_t::width, ubits(CFG::max_n)>(s, cnt));
  }
  linear<CFG>(g.fc1, mean, 1, wmem, bmem, mid, mid);
  for (int c = 0; c < g.fc1.n_out; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
    if (mid[0][c] < 0) mid[0][c] = 0;
  }
  linear_raw<CFG, CFG::max_out>(g.fc2, mid, 1, wmem, bmem, logits);
}

// CAIT's per-group top-k: on[c] for the k largest of logits[off .. off + len) (ties: lower c).
template <int MAX>
void topk_channels(const acc_t* logits, int off, int len, int k, bool on[MAX]) {
  for (int c = 0; c < len; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX
    int rank = 0;
    for (int j = 0; j < len; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX
#pragma HLS PIPELINE II = 1
      if (logits[off + j] > logits[off + c] || (logits[off + j] == logits[off + c] && j < c)) ++rank;
    }
    on[c] = rank < k;
  }
}

// CP-ViT: head h is kept unless it ranks among the `pruned` lowest masses (ties: the higher
// head index is pruned first).
template <class CFG>
void cpvit_head_mask(const typename score_types<CFG>::mass_t mass[CFG::max_heads], int heads,
                     int pruned, bool head_on[CFG::max_heads]) {
  for (int h = 0; h < CFG::max_heads; ++h) {
#pragma HLS UNROLL
    int rank = 0;
    for (int g = 0; g < CFG::max_heads; ++g) {
#pragma HLS UNROLL
      if (g < heads && (mass[g] > mass[h] || (mass[g] == mass[h] && g < h))) ++rank;
    }
    head_on[h] = h < heads && rank < heads - pruned;
  }
}

// PRANCE's actor s (quant/channels.py actor_choices): the state is each live row's key
// averaged over all channels (ksum / dim, rounded half up; zero past the live rows, padded
// to n_max), then the cost code; fc1 -> ReLU -> fc2 -> ReLU -> fc3 (raw int32 z) on the
// linear engine; choice of output a = the number of thresholds z_a reaches.
struct actor_desc {
  linear_desc fc1, fc2;  // kRequant to the actor's hidden fracs (ReLU after)
  linear_desc fc3;       // kRaw: one logit per output
};

template <class CFG>
void prance_actor(const actor_desc& d, const reduce_desc<CFG>& red, int stage,
                  const typename score_types<CFG>::ksum_t ksum[CFG::max_n], int n, int n_max,
                  int dim, const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
                  int pick[kPranceOutputs]) {
  static act_t state[CFG::max_n][CFG::max_w], hid[CFG::max_n][CFG::max_w];
  static acc_t z[CFG::max_n][CFG::max_out];
  typedef typename score_types<CFG>::ksum_t ks_t;
  const ap_uint<ubits(CFG::max_w)> den = dim;
  for (int t = 0; t < d.fc1.n_in; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
    state[0][t] = t < n ? act_t(div_round<ks_t::width, ubits(CFG::max_w)>(ksum[t], den))
                : t == n_max ? act_t(red.cost_code) : act_t(0);
  }
  linear<CFG>(d.fc1, state, 1, wmem, bmem, hid, hid);
  for (int c = 0; c < d.fc1.n_out; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
    if (hid[0][c] < 0) hid[0][c] = 0;
  }
  linear<CFG>(d.fc2, hid, 1, wmem, bmem, state, state);
  for (int c = 0; c < d.fc2.n_out; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
    if (state[0][c] < 0) state[0][c] = 0;
  }
  linear_raw<CFG, CFG::max_out>(d.fc3, state, 1, wmem, bmem, z);
  for (int a = 0; a < kPranceOutputs; ++a) {
#pragma HLS UNROLL
    int cnt = 0;
    for (int j = 0; j < kPranceChoices - 1; ++j) {
#pragma HLS UNROLL
      if (j < red.n_choices[a] - 1 && z[0][a] >= red.thr[stage][a][j]) ++cnt;
    }
    pick[a] = cnt;
  }
}

// PRANCE's token step (quant/reduce.py prance_token_step): keep the keep_n patches of highest
// CLS attention (ties: lower row); with merge, every other patch joins its most similar kept
// patch (unit hidden states over the whole row, first maximum) by plain average, sizes add;
// without, they are dropped. Returns the new count.
template <class CFG>
int prance_token_step(act_t x[CFG::max_n][CFG::max_w], token_meta<CFG>& tm, int n, int dim,
                      const typename score_types<CFG>::cls_t a[CFG::max_n], int keep_n, bool merge) {
  typedef typename score_types<CFG>::sim_t sim_t;
  static typename score_types<CFG>::unit_t u[CFG::max_n][CFG::max_w];
  bool keep[CFG::max_n], join[CFG::max_n];
  int dst[CFG::max_n];
  topk_keep<CFG>(a, n, keep_n, keep);
  bool any_kept = false;
  for (int t = 1; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    any_kept |= keep[t];
  }
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
    join[t] = merge && any_kept && t > 0 && !keep[t];
    dst[t] = t;
  }
  if (merge && any_kept) {
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
      unit_keys<CFG>(x[t], 1, dim, u[t]);
    }
    for (int i = 1; i < n; ++i) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
      if (!join[i]) continue;
      sim_t best = 0;
      int arg = -1;
      for (int j = 1; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
        if (!keep[j]) continue;
        sim_t s = 0;
        for (int c = 0; c < dim; ++c) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
          s += u[i][c] * u[j][c];
        }
        if (arg < 0 || s > best) {
          best = s;
          arg = j;
        }
      }
      dst[i] = arg;
    }
    merge_weighted<CFG>(x, tm, n, dim, join, dst, false);
  }
  return compact<CFG>(x, tm, n, dim, keep);
}

}  // namespace sievit

#endif  // SIEVIT_REDUCE_H_
