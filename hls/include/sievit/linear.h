// Engine `linear`: int8 x int8 -> int32 GEMM over the live token rows, bias, and a fused
// epilogue on the write-back path: requantize, GELU, or residual add (docs/numerics.md).
// A layer is a runtime descriptor (generated from the bundle); CFG fixes the buffer shapes,
// the MAC lanes and the weight tile. Weight-stationary like rtl/linear.sv: a tile of
// CFG::w_tile_rows output rows is burst-read once from the wide m_axi port into a local
// chunk buffer, then every live token row reuses it; the MAC loop is flattened over
// (output row, input chunk) and pipelined at II = 1 with CFG::lanes MACs per cycle.
#ifndef SIEVIT_LINEAR_H_
#define SIEVIT_LINEAR_H_

#include "gelu.h"
#include "mem.h"
#include "types.h"

namespace sievit {

enum Epilogue { kRequant = 0, kGelu = 1, kResidual = 2, kRaw = 3 };

struct linear_desc {
  int n_in, n_out;     // weight matrix is n_out x n_in, row-major
  int in_off, out_off; // column offsets into the input / output token buffers
  int w_off, b_off;    // offsets into the weight / bias memories (word aligned)
  int frac_acc;        // frac of the accumulator (input frac + weight frac)
  int frac_out;        // frac of the int8 output
  int epi;             // Epilogue
  int frac_gelu_in;    // kGelu: int8 frac of the GELU input
  int frac_res;        // kResidual: frac of the residual operand
};

// Accumulator and epilogue widths, from the contract (parameters.h computes them).
template <class CFG>
struct lin_types {
  typedef ap_int<CFG::acc_bits> acc;   // bias + n_in int8 x int8 products, any int8 input
  typedef ap_int<CFG::epi_bits> epi;   // acc or residual aligned to the larger frac
  typedef ap_int<16 + ubits(CFG::lanes)> part;  // one cycle's LANES products
};

// The fused write-back: accumulator -> int8 output element.
template <class CFG>
act_t linear_epilogue(typename lin_types<CFG>::acc acc, const linear_desc& d, act_t res) {
  typedef typename lin_types<CFG>::epi epi_t;
  if (d.epi == kGelu) {
    const act_t g = requant<CFG::acc_bits>(acc, d.frac_acc, d.frac_gelu_in);
    return gelu(g, d.frac_gelu_in, d.frac_out);
  }
  if (d.epi == kResidual) {  // both operands aligned to the larger frac: left shifts only
    const int f = d.frac_acc > d.frac_res ? d.frac_acc : d.frac_res;
    const epi_t sum = (epi_t(res) << (f - d.frac_res)) + (epi_t(acc) << (f - d.frac_acc));
    return requant<CFG::epi_bits>(sum, f, d.frac_out);
  }
  return requant<CFG::acc_bits>(acc, d.frac_acc, d.frac_out);
}

// The GEMM core. SINK gets begin_row(t, r0, rows) before each row of a tile and
// put(t, o, acc) for each output, in order.
template <class CFG, class SINK>
void linear_core(const linear_desc& d, const act_t x[CFG::max_n][CFG::max_w], int n,
                 const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
                 SINK& sink) {
  typedef typename lin_types<CFG>::acc acc_w;
  typedef typename lin_types<CFG>::part part_t;
  static wgt_t wt[CFG::tile_chunks][CFG::lanes];
  static bias_t bt[CFG::w_tile_rows];
#pragma HLS ARRAY_PARTITION variable = wt cyclic factor = CFG::chunks_per_word dim = 1
#pragma HLS ARRAY_PARTITION variable = wt complete dim = 2
#pragma HLS ARRAY_PARTITION variable = bt cyclic factor = CFG::word_bits / 32
  const int cpr = d.n_in / CFG::lanes;       // chunks per weight row
  const int cb = d.in_off / CFG::lanes;      // first input chunk
  for (int r0 = 0; r0 < d.n_out; r0 += CFG::w_tile_rows) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_tiles
    const int rows = d.n_out - r0 < CFG::w_tile_rows ? d.n_out - r0 : CFG::w_tile_rows;
    load_chunks<CFG, CFG::tile_chunks>(wmem, d.w_off + r0 * d.n_in, rows * d.n_in, wt);
    load_i32<CFG, CFG::w_tile_rows>(bmem, d.b_off + r0, rows, bt);
    const int iters = rows * cpr;
    for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n
      sink.begin_row(t, r0, rows);
      acc_w acc = 0;
      int o = 0, k = 0;
      for (int it = 0; it < iters; ++it) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::tile_iters
#pragma HLS PIPELINE II = 1
        int psum = 0;  // LANES 8 x 8-bit products: 16 + log2(LANES) bits (part_t)
        for (int l = 0; l < CFG::lanes; ++l) {
#pragma HLS UNROLL
          psum += x[t][(cb + k) * CFG::lanes + l].to_int() * wt[it][l].to_int();
        }
        const part_t part = psum;
        const acc_w sum = (k == 0 ? acc_w(bt[o]) : acc) + part;
        acc = sum;
        if (k == cpr - 1) {
          sink.put(t, r0 + o, sum);
          k = 0;
          ++o;
        } else {
          ++k;
        }
      }
    }
  }
}

// int8 write-back through the epilogue. `res` is read only by kResidual.
// out_on (PRANCE's embedding width): outputs o with !out_on[o] take a zero accumulator.
template <class CFG>
struct epilogue_sink {
  const linear_desc& d;
  const act_t (*res)[CFG::max_w];
  act_t (*y)[CFG::max_w];
  const bool* out_on;
  void begin_row(int, int, int) {}
  void put(int t, int o, typename lin_types<CFG>::acc acc) {
    const typename lin_types<CFG>::acc a = out_on && !out_on[o] ? typename lin_types<CFG>::acc(0) : acc;
    y[t][d.out_off + o] = linear_epilogue<CFG>(a, d, res[t][d.out_off + o]);
  }
};

// Raw int32 accumulators (selector logits, class logits): epilogue kRaw.
template <class CFG, int MAX_OUT>
struct raw_sink {
  acc_t (*y)[MAX_OUT];
  void begin_row(int, int, int) {}
  void put(int t, int o, typename lin_types<CFG>::acc acc) { y[t][o] = acc_t(acc); }
};

// y[t][out_off + o] for the first n rows.
template <class CFG>
void linear(const linear_desc& d, const act_t x[CFG::max_n][CFG::max_w], int n,
            const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
            const act_t res[CFG::max_n][CFG::max_w], act_t y[CFG::max_n][CFG::max_w],
            const bool* out_on = 0) {
  epilogue_sink<CFG> sink = {d, res, y, out_on};
  linear_core<CFG>(d, x, n, wmem, bmem, sink);
}

template <class CFG, int MAX_OUT>
void linear_raw(const linear_desc& d, const act_t x[CFG::max_n][CFG::max_w], int n,
                const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
                acc_t y[CFG::max_n][MAX_OUT]) {
  raw_sink<CFG, MAX_OUT> sink = {y};
  linear_core<CFG>(d, x, n, wmem, bmem, sink);
}

}  // namespace sievit

#endif  // SIEVIT_LINEAR_H_
