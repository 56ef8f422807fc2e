// sievit numeric primitives (docs/numerics.md): the same rules as quant/intops.py and
// hls/include/sievit/types.h. All arithmetic is on explicit signed 64-bit values.
package sievit_pkg;

  /* verilator lint_off UNUSEDPARAM */  // shared constants: not every engine uses each one
  localparam int BEAT_BITS = 64;   // AXI4-Stream TDATA width of every engine
  localparam int I8_PER_BEAT = 8;  // int8 tensors: 8 elements per beat
  localparam int I32_PER_BEAT = 2; // int32 tensors: 2 elements per beat
  /* verilator lint_on UNUSEDPARAM */

  // Functions are written in the function-name-assignment style (no `return`) and with
  // size casts only, so that Yosys's SystemVerilog front end reads them too.

  // x * 2^-shift, round half to even; shift <= 0 is an exact left shift.
  function automatic logic signed [63:0] rshift_rne(input logic signed [63:0] x,
                                                    input integer shift);
    logic signed [63:0] q, r, half;
    if (shift <= 0) begin
      rshift_rne = x <<< (-shift);
    end else begin
      q = x >>> shift;
      r = x - (q <<< shift);
      half = 64'sd1 <<< (shift - 1);
      rshift_rne = (r > half || (r == half && q[0])) ? q + 64'sd1 : q;
    end
  endfunction

  // x * 2^-shift, floor; shift <= 0 is an exact left shift.
  function automatic logic signed [63:0] rshift_floor(input logic signed [63:0] x,
                                                      input integer shift);
    rshift_floor = (shift <= 0) ? (x <<< (-shift)) : (x >>> shift);
  endfunction

  function automatic logic signed [7:0] sat8(input logic signed [63:0] x);
    if (x < -64'sd128) sat8 = -8'sd128;
    else if (x > 64'sd127) sat8 = 8'sd127;
    else sat8 = x[7:0];
  endfunction

  // Requantize: round half to even from frac_in to frac_out, saturate to int8.
  function automatic logic signed [7:0] requant(input logic signed [63:0] acc,
                                                input integer frac_in, input integer frac_out);
    requant = sat8(rshift_rne(acc, frac_in - frac_out));
  endfunction

  // I-BERT erf-polynomial GELU of int8 q at frac_in, requantized to frac_out.
  localparam integer GELU_FRAC = 10;
  localparam integer GELU_OUT_FRAC = 31;
  localparam logic signed [63:0] GELU_CLIP = 64'sd2562;
  localparam logic signed [63:0] GELU_A = 64'sd9463;

  // Multiplies as narrow as the contract's ranges allow (DSP48E2-sized): inside the clip
  // |x| < 2562 (13-bit signed), 1 + erf in [0, 2^21]; outside it 1 + erf is exactly 0 or 2.
  function automatic logic signed [7:0] gelu_q(input logic signed [7:0] q, input integer frac_in,
                                               input integer frac_out);
    logic signed [63:0] x, y;
    logic signed [12:0] xs;
    logic [11:0] t, dl;
    logic [23:0] sq;
    logic [37:0] e;                  // (CLIP - t)^2 * A < 2^36
    logic signed [22:0] m;           // 2^20 + erf, in [0, 2^21]
    logic signed [35:0] p;
    x = rshift_floor({{56{q[7]}}, q}, frac_in - GELU_FRAC);
    xs = x[12:0];
    t = xs < 0 ? 12'(-xs) : 12'(xs);
    dl = 12'(GELU_CLIP) - t;
    sq = 24'(dl) * 24'(dl);
    e = 38'(sq) * 38'(GELU_A);
    m = (xs > 0) ? 23'(2 ** (2 * GELU_FRAC + 1)) - 23'(e >> 16)
                 : ((xs < 0) ? 23'(e >> 16) : 23'(2 ** (2 * GELU_FRAC)));
    p = 36'(xs) * 36'(m);
    if (x >= GELU_CLIP) y = x <<< (2 * GELU_FRAC + 1);   // erf = 1
    else if (x <= -GELU_CLIP) y = 64'sd0;                // erf = -1
    else y = 64'(p);
    gelu_q = requant(y, GELU_OUT_FRAC, frac_out);
  endfunction

  // Piecewise-linear sigmoid (PLAN) of d at frac (>= 0): Q0.8 in [0, 256].
  function automatic logic [8:0] sigmoid_plan(input logic signed [63:0] d, input integer frac);
    logic signed [63:0] t, one, v, p;
    t = d < 0 ? -d : d;
    one = 64'sd1 <<< frac;
    if (t < one) v = 8 * t + 16 * one;
    else if (8 * t < 19 * one) v = 4 * t + 20 * one;
    else if (t < 5 * one) v = t + 27 * one;
    else v = 32 * one;
    p = rshift_floor(v, frac + 5 - 8);
    sigmoid_plan = (d >= 0) ? p[8:0] : 9'(64'sd256 - p);
  endfunction

  // DSP packing (AMD WP486): two int8 values a0, a1 that multiply one shared operand b
  // (|a * b| < 2^17) are one 27x18 multiply p = ((a1 << 18) + a0) * b. The low 18 bits of p
  // are the signed a0 * b; a1 * b = p[34:18] + p[17] (the borrow of a negative low part).
  function automatic logic signed [34:0] pack_mul2(input logic signed [7:0] a0,
                                                   input logic signed [7:0] a1,
                                                   input logic signed [8:0] b);
    logic signed [26:0] a_pack;
    a_pack = (27'($signed(a1)) <<< 18) + 27'($signed(a0));
    pack_mul2 = 35'(a_pack) * 35'(b);
  endfunction
  function automatic logic signed [31:0] pack_lo(input logic signed [17:0] p_lo);
    pack_lo = 32'(p_lo);
  endfunction
  function automatic logic signed [31:0] pack_hi(input logic signed [17:0] p_hi);  // p[34:17]
    pack_hi = 32'($signed(p_hi[17:1])) + 32'(p_hi[0]);
  endfunction

  // Write-back of the linear engine: requantize, GELU, or residual add (docs/numerics.md).
  /* verilator lint_off UNUSEDPARAM */
  localparam int EPI_REQUANT = 0;
  localparam int EPI_GELU = 1;
  localparam int EPI_RESIDUAL = 2;
  localparam int EPI_RAW = 3;
  /* verilator lint_on UNUSEDPARAM */

  function automatic logic signed [7:0] linear_epilogue(
      input logic signed [63:0] acc, input integer epi, input integer frac_acc,
      input integer frac_out, input integer frac_gelu_in, input integer frac_res,
      input logic signed [7:0] res);
    logic signed [63:0] sum;
    integer f;
    f = frac_acc > frac_res ? frac_acc : frac_res;
    sum = rshift_floor({{56{res[7]}}, res}, frac_res - f) + rshift_floor(acc, frac_acc - f);
    if (epi == EPI_GELU) linear_epilogue = gelu_q(requant(acc, frac_acc, frac_gelu_in), frac_gelu_in, frac_out);
    else if (epi == EPI_RESIDUAL) linear_epilogue = requant(sum, f, frac_out);
    else linear_epilogue = requant(acc, frac_acc, frac_out);
  endfunction

endpackage
