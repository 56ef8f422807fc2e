// The engine stream protocol, shared with the RTL engines (rtl/): AXI4-Stream, 64-bit TDATA.
// int8 tensors: 8 elements per beat, element j of a row in bits [8*(j%8)+7 : 8*(j%8)], rows
// padded to whole beats, row-major. int32 tensors: 2 elements per beat (bits [31:0], [63:32]), each row padded to whole beats.
// TLAST marks the last beat of each tensor. Scalars (token count, layer, mode) are s_axilite
// registers. Under Vitis HLS the word is hls::axis; elsewhere a struct with the same fields.
#ifndef SIEVIT_AXIS_H_
#define SIEVIT_AXIS_H_

#include "hls_stream.h"
#include "types.h"

#if defined(__has_include)
#if __has_include(<ap_axi_sdata.h>)
#include <ap_axi_sdata.h>
#define SIEVIT_HAVE_AXI_SDATA 1
#endif
#endif

namespace sievit {

#ifdef SIEVIT_HAVE_AXI_SDATA
typedef hls::axis<ap_uint<64>, 0, 0, 0> axis_word;
#else
struct axis_word {
  ap_uint<64> data;
  ap_uint<8> keep;
  ap_uint<8> strb;
  ap_uint<1> last;
};
#endif
typedef hls::stream<axis_word> axis_t;

static const int kI8PerBeat = 8;
static const int kI32PerBeat = 2;

inline int beats_i8(int cols) { return (cols + kI8PerBeat - 1) / kI8PerBeat; }

// Read n rows of `cols` int8 values into x[t][off ...].
template <int MAX_N, int MAX_W>
void axis_read_rows(axis_t& in, act_t x[MAX_N][MAX_W], int n, int cols, int off) {
  const int beats = beats_i8(cols);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_N
    for (int b = 0; b < beats; ++b) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = (MAX_W + 7) / 8
#pragma HLS PIPELINE II = 1
      const axis_word w = in.read();
      for (int l = 0; l < kI8PerBeat; ++l) {
#pragma HLS UNROLL
        const int c = b * kI8PerBeat + l;
        if (c < cols) x[t][off + c] = act_t(ap_int<8>(w.data.range(8 * l + 7, 8 * l)));
      }
    }
  }
}

template <int MAX_N, int MAX_W>
void axis_write_rows(axis_t& out, const act_t x[MAX_N][MAX_W], int n, int cols, int off,
                     bool last) {
  const int beats = beats_i8(cols);
  for (int t = 0; t < n; ++t) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = MAX_N
    for (int b = 0; b < beats; ++b) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = (MAX_W + 7) / 8
#pragma HLS PIPELINE II = 1
      axis_word w;
      w.data = 0;
      for (int l = 0; l < kI8PerBeat; ++l) {
#pragma HLS UNROLL
        const int c = b * kI8PerBeat + l;
        if (c < cols) w.data.range(8 * l + 7, 8 * l) = ap_uint<8>(x[t][off + c].range(7, 0));
      }
      w.keep = 0xFF;
      w.strb = 0xFF;
      w.last = last && t == n - 1 && b == beats - 1;
      out.write(w);
    }
  }
}

inline ap_int<32> axis_read_i32_pair(axis_t& in, ap_int<32>& second) {
  const axis_word w = in.read();
  second = ap_int<32>(w.data.range(63, 32));
  return ap_int<32>(w.data.range(31, 0));
}

inline void axis_write_i32_pair(axis_t& out, ap_int<32> a, ap_int<32> b, bool last) {
  axis_word w;
  w.data.range(31, 0) = ap_uint<32>(a.range(31, 0));
  w.data.range(63, 32) = ap_uint<32>(b.range(31, 0));
  w.keep = 0xFF;
  w.strb = 0xFF;
  w.last = last;
  out.write(w);
}

}  // namespace sievit

#endif  // SIEVIT_AXIS_H_
