// Stand-alone engine tops: each engine behind AXI4-Stream ports (axis.h protocol) so that it
// synthesizes alone and the RTL testbenches can drive the Verilog Vitis HLS exports from it.
// Weights and biases are wide m_axi words (sievit::word_t); layer-specific descriptors come
// from the tables in parameters.h (kLinears, kLayerNorms, kModel).
#ifndef SIEVIT_ENGINE_TOPS_H_
#define SIEVIT_ENGINE_TOPS_H_

#include "parameters.h"
#include "sievit/axis.h"

void linear_top(sievit::axis_t& in, sievit::axis_t& out, int layer, int n,
                const sievit::word_t weights[sievit::kNumWeightWords],
                const sievit::word_t biases[sievit::kNumBiasWords]);
void layernorm_top(sievit::axis_t& in, sievit::axis_t& out, int layer, int n,
                   const sievit::word_t weights[sievit::kNumWeightWords],
                   const sievit::word_t biases[sievit::kNumBiasWords]);
void softmax_top(sievit::axis_t& in, sievit::axis_t& out, int n, int frac);
void gelu_top(sievit::axis_t& in, sievit::axis_t& out, int n, int frac_in, int frac_out);
void attention_top(sievit::axis_t& in, sievit::axis_t& out, int block, int n,
                   const sievit::word_t weights[sievit::kNumWeightWords],
                   const sievit::word_t biases[sievit::kNumBiasWords]);
void mlp_top(sievit::axis_t& in, sievit::axis_t& out, int block, int n,
             const sievit::word_t weights[sievit::kNumWeightWords],
             const sievit::word_t biases[sievit::kNumBiasWords]);
void pruning_top(sievit::axis_t& in, sievit::axis_t& out, int stage, int n, int mode, int k,
                 int score_in, const sievit::word_t weights[sievit::kNumWeightWords],
                 const sievit::word_t biases[sievit::kNumBiasWords]);
void patch_embed_top(sievit::axis_t& in, sievit::axis_t& out,
                     const sievit::word_t weights[sievit::kNumWeightWords],
                     const sievit::word_t biases[sievit::kNumBiasWords]);
void head_top(sievit::axis_t& in, sievit::axis_t& out,
              const sievit::word_t weights[sievit::kNumWeightWords],
              const sievit::word_t biases[sievit::kNumBiasWords]);
// Reduction methods (EViT, ToMe, PPT, CP-ViT, CAIT, PRANCE): the attention engine with its
// method inputs (chan bit 0: CAIT's Q/K and V masks, bit 1: PRANCE's embedding mask) and
// score outputs, and the reduce engine (reduce.h).
void attention_method_top(sievit::axis_t& in, sievit::axis_t& out, int block, int n, int prop,
                          int head_on, int chan, const sievit::word_t weights[sievit::kNumWeightWords],
                          const sievit::word_t biases[sievit::kNumBiasWords]);
void reduce_top(sievit::axis_t& in, sievit::axis_t& out, int method, int n, int k, int r, int tau,
                int win_r, int win_c);

#endif  // SIEVIT_ENGINE_TOPS_H_
