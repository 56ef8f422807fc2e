// Engine `linear`: int8 x int8 -> int32 GEMM over the live token rows, bias, and a fused
// epilogue on the write-back path: requantize, GELU, or residual add (docs/numerics.md).
// A layer is a runtime descriptor (generated from the bundle); CFG fixes the buffer shapes
// and the number of parallel MAC lanes (the analogue of hls4ml's reuse factor).
#ifndef SIEVIT_LINEAR_H_
#define SIEVIT_LINEAR_H_

#include "gelu.h"
#include "types.h"

namespace sievit {

enum Epilogue { kRequant = 0, kGelu = 1, kResidual = 2, kRaw = 3 };

struct linear_desc {
  int n_in, n_out;     // weight matrix is n_out x n_in, row-major
  int in_off, out_off; // column offsets into the input / output token buffers
  int w_off, b_off;    // offsets into the weight / bias memories
  int frac_acc;        // frac of the accumulator (input frac + weight frac)
  int frac_out;        // frac of the int8 output
  int epi;             // Epilogue
  int frac_gelu_in;    // kGelu: int8 frac of the GELU input
  int frac_res;        // kResidual: frac of the residual operand
};

// One accumulator: bias + sum over n_in of x * w (int32 range, checked by the generator).
template <class CFG>
i64 linear_dot(const act_t x[CFG::max_w], int in_off, const wgt_t* wmem, const linear_desc& d,
               int o, const bias_t* bmem) {
  i64 acc = bmem[d.b_off + o];
  for (int i = 0; i < d.n_in; i += CFG::lanes) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w / CFG::lanes)
SIEVIT_HLS(HLS PIPELINE II = 1)
    i64 part = 0;
    for (int l = 0; l < CFG::lanes; ++l) {
SIEVIT_HLS(HLS UNROLL)
      part += i64(x[in_off + i + l]) * i64(wmem[d.w_off + o * d.n_in + i + l]);
    }
    acc += part;
  }
  return acc;
}

// The fused write-back: accumulator -> int8 output element.
inline act_t linear_epilogue(i64 acc, const linear_desc& d, act_t res) {
  if (d.epi == kGelu) {
    const act_t g = requant(acc, d.frac_acc, d.frac_gelu_in);
    return gelu(g, d.frac_gelu_in, d.frac_out);
  }
  if (d.epi == kResidual) {
    const int f = d.frac_acc > d.frac_res ? d.frac_acc : d.frac_res;
    const i64 sum = rshift_floor(i64(res), d.frac_res - f) + rshift_floor(acc, d.frac_acc - f);
    return requant(sum, f, d.frac_out);
  }
  return requant(acc, d.frac_acc, d.frac_out);
}

// y[t][out_off + o] for the first n rows. `res` is read only by kResidual and may be y itself.
template <class CFG>
void linear(const linear_desc& d, const act_t x[CFG::max_n][CFG::max_w], int n,
            const wgt_t* wmem, const bias_t* bmem, const act_t res[CFG::max_n][CFG::max_w],
            act_t y[CFG::max_n][CFG::max_w]) {
  for (int t = 0; t < n; ++t) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n)
    for (int o = 0; o < d.n_out; ++o) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w)
      const i64 acc = linear_dot<CFG>(x[t], d.in_off, wmem, d, o, bmem);
      y[t][d.out_off + o] = linear_epilogue(acc, d, res[t][d.out_off + o]);
    }
  }
}

// Raw int32 accumulators (selector logits, class logits): epilogue kRaw.
template <class CFG, int MAX_OUT>
void linear_raw(const linear_desc& d, const act_t x[CFG::max_n][CFG::max_w], int n,
                const wgt_t* wmem, const bias_t* bmem, acc_t y[CFG::max_n][MAX_OUT]) {
  for (int t = 0; t < n; ++t) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n)
    for (int o = 0; o < d.n_out; ++o) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = MAX_OUT)
      y[t][o] = acc_t(linear_dot<CFG>(x[t], d.in_off, wmem, d, o, bmem));
    }
  }
}

}  // namespace sievit

#endif  // SIEVIT_LINEAR_H_
