// sievit numeric primitives (docs/numerics.md): the same rules as quant/intops.py and
// hls/include/sievit/types.h. All arithmetic is on explicit signed 64-bit values.
package sievit_pkg;

  /* verilator lint_off UNUSEDPARAM */  // shared constants: not every engine uses each one
  localparam int BEAT_BITS = 64;   // AXI4-Stream TDATA width of every engine
  localparam int I8_PER_BEAT = 8;  // int8 tensors: 8 elements per beat
  localparam int I32_PER_BEAT = 2; // int32 tensors: 2 elements per beat
  /* verilator lint_on UNUSEDPARAM */

  typedef logic signed [63:0] i64_t;

  // x * 2^-shift, round half to even; shift <= 0 is an exact left shift.
  function automatic i64_t rshift_rne(input i64_t x, input int shift);
    i64_t q, r, half;
    if (shift <= 0) return x <<< (-shift);
    q = x >>> shift;
    r = x - (q <<< shift);
    half = i64_t'(64'sd1) <<< (shift - 1);
    if (r > half || (r == half && q[0])) return q + 64'sd1;
    return q;
  endfunction

  // x * 2^-shift, floor; shift <= 0 is an exact left shift.
  function automatic i64_t rshift_floor(input i64_t x, input int shift);
    if (shift <= 0) return x <<< (-shift);
    return x >>> shift;
  endfunction

  function automatic logic signed [7:0] sat8(input i64_t x);
    if (x < -64'sd128) return -8'sd128;
    if (x > 64'sd127) return 8'sd127;
    return x[7:0];
  endfunction

  // Requantize: round half to even from frac_in to frac_out, saturate to int8.
  function automatic logic signed [7:0] requant(input i64_t acc, input int frac_in,
                                                input int frac_out);
    return sat8(rshift_rne(acc, frac_in - frac_out));
  endfunction

  // I-BERT erf-polynomial GELU of int8 q at frac_in, requantized to frac_out.
  localparam int GELU_FRAC = 10;
  localparam int GELU_OUT_FRAC = 31;
  localparam i64_t GELU_CLIP = 64'sd2562;
  localparam i64_t GELU_A = 64'sd9463;

  function automatic logic signed [7:0] gelu_q(input logic signed [7:0] q, input int frac_in,
                                               input int frac_out);
    i64_t x, ax, t, erf_abs, erf, one;
    x = rshift_floor(i64_t'(q), frac_in - GELU_FRAC);
    ax = x < 0 ? -x : x;
    t = ax < GELU_CLIP ? ax : GELU_CLIP;
    one = i64_t'(64'sd1) <<< (2 * GELU_FRAC);
    erf_abs = one - (((GELU_CLIP - t) * (GELU_CLIP - t) * GELU_A) >>> 16);
    erf = x > 0 ? erf_abs : (x < 0 ? -erf_abs : 64'sd0);
    return requant(x * (one + erf), GELU_OUT_FRAC, frac_out);
  endfunction

  // Write-back of the linear engine: requantize, GELU, or residual add (docs/numerics.md).
  /* verilator lint_off UNUSEDPARAM */
  localparam int EPI_REQUANT = 0;
  localparam int EPI_GELU = 1;
  localparam int EPI_RESIDUAL = 2;
  localparam int EPI_RAW = 3;
  /* verilator lint_on UNUSEDPARAM */

  function automatic logic signed [7:0] linear_epilogue(
      input i64_t acc, input int epi, input int frac_acc, input int frac_out,
      input int frac_gelu_in, input int frac_res, input logic signed [7:0] res);
    i64_t sum;
    int f;
    if (epi == EPI_GELU) return gelu_q(requant(acc, frac_acc, frac_gelu_in), frac_gelu_in, frac_out);
    if (epi == EPI_RESIDUAL) begin
      f = frac_acc > frac_res ? frac_acc : frac_res;
      sum = rshift_floor(i64_t'(res), frac_res - f) + rshift_floor(acc, frac_acc - f);
      return requant(sum, f, frac_out);
    end
    return requant(acc, frac_acc, frac_out);
  endfunction

endpackage
