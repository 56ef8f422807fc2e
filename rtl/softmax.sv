// Engine `softmax`: I-BERT integer softmax of one row of n int32 logits (docs/numerics.md).
// In: ceil(n/2) beats of two int32 logits. Out: ceil(n/8) beats of eight uint8
// probabilities at frac 8 (zero padded), TLAST on the last. Phases: load (track the max),
// exp (EXP_LANES elements per cycle, running sum), reciprocal (the sequential `udiv`),
// normalise (eight elements per cycle).
module softmax
#(
    parameter int MAX_N = 256,
    parameter int EXP_LANES = 8,     // exponentials per cycle
    parameter int IN_LANES = 2,      // int32 logits per input beat (2: the 64-bit engine stream)
    parameter int BEAT = 64          // output beat bits: BEAT / 8 probabilities per beat
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic [15:0]          n,      // live keys in the row, 1..MAX_N; stable per row
    input  logic signed [7:0]    frac,   // logits' fractional bits
    input  logic [32*IN_LANES-1:0] s_axis_tdata,
    input  logic                 s_axis_tvalid,
    output logic                 s_axis_tready,
    input  logic                 s_axis_tlast,
    output logic [BEAT-1:0] m_axis_tdata,
    output logic                 m_axis_tvalid,
    input  logic                 m_axis_tready,
    output logic                 m_axis_tlast
);
  import sievit_pkg::*;
  localparam int B8 = BEAT / 8;

  localparam int IW = $clog2(MAX_N + B8 + EXP_LANES);
  localparam logic signed [63:0] LN2 = 64'sd710;
  localparam logic signed [63:0] EXP_B = 64'sd1385;
  localparam logic signed [63:0] EXP_C = 64'sd1006151;

  typedef enum logic [2:0] {LOAD, EXP, DIV, OUT} state_t;
  state_t state;

  logic signed [31:0] logit_mem[MAX_N];
  logic [21:0] e_mem[MAX_N];   // exp values < 2^22
  logic [IW-1:0] idx;          // element index (load, exp) or output beat (out)
  logic signed [31:0] max_v;
  logic [39:0] total;          // sum of e: < 2^23 * MAX_N
  logic div_start, div_done, div_busy;
  /* verilator lint_off UNUSEDSIGNAL */
  logic [47:0] div_q;          // floor(2^32 / total) < 2^33
  /* verilator lint_on UNUSEDSIGNAL */
  wire [32:0] recip = div_q[32:0];

  udiv #(.W(48), .BITS(4)) u_div (.clk, .rst_n, .start(div_start), .num(48'd1 << 32), .den(48'(total)),
                        .quot(div_q), .busy(div_busy), .done(div_done));

  wire [IW-1:0] n_i = IW'(n);
  wire [IW-1:0] in_beats = IW'((32'(n) + IN_LANES - 1) / IN_LANES);
  wire [IW-1:0] out_beats = IW'((32'(n) + B8 - 1) / B8);

  // exp of elements idx .. idx + EXP_LANES - 1, with narrow arithmetic: d <= 0; once
  // -d >= 31 * LN2 the shift is >= 31 and e = poly >> 31 = 0 (poly < 2^22), so only
  // -d < 22010 (15 bits) needs the division and the polynomial (e < 2^22)
  localparam int EXP_ZERO = 31 * 710;
  logic [21:0] e_val[EXP_LANES];
  logic [39:0] e_sum;          // their sum over the live elements
  always_comb begin
    e_sum = '0;
    for (int l = 0; l < EXP_LANES; l++) begin
      logic signed [63:0] d;
      logic [14:0] nd;
      logic [9:0] r;           // nd mod LN2
      logic [4:0] z;
      logic [10:0] pb;         // p + EXP_B in [676, 1385]
      logic [22:0] poly;
      logic [IW-1:0] j;
      j = idx + IW'(l);
      d = rshift_floor(64'(logit_mem[j[$clog2(MAX_N)-1:0]]) - 64'(max_v), 32'(frac) - 10);
      nd = (-d >= 64'(EXP_ZERO)) ? 15'(EXP_ZERO) : 15'(-d);
      z = 5'(nd / 15'(LN2));
      r = 10'(nd - 15'(z) * 15'(LN2));
      pb = 11'(EXP_B) - 11'(r);
      poly = 23'(pb) * 23'(pb) + 23'(EXP_C);
      e_val[l] = (nd >= 15'(EXP_ZERO)) ? 22'd0 : 22'(poly >> z);
      if (j < n_i) e_sum = e_sum + 40'(e_val[l]);
    end
  end

  // eight normalised outputs of beat idx
  logic [BEAT-1:0] out_word;
  always_comb begin
    for (int l = 0; l < B8; l++) begin
      logic [IW-1:0] j;
      /* verilator lint_off UNUSEDSIGNAL */
      logic [55:0] prod;  // e < 2^22 times recip <= 2^32, plus rounding; bits below 24 dropped
      /* verilator lint_on UNUSEDSIGNAL */
      logic [31:0] o;
      j = IW'(idx * B8 + IW'(l));
      prod = 56'(e_mem[j[$clog2(MAX_N)-1:0]]) * 56'(recip) + (56'(1) << 23);
      o = prod[55:24];
      out_word[8*l+:8] = (j >= n_i) ? 8'd0 : (o > 32'd255 ? 8'd255 : o[7:0]);
    end
  end

  assign s_axis_tready = (state == LOAD);
  assign m_axis_tvalid = (state == OUT);
  assign m_axis_tdata = out_word;
  assign m_axis_tlast = (state == OUT) && (idx == out_beats - 1'b1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= LOAD;
      idx <= '0;
      max_v <= '0;
      total <= '0;
      div_start <= 1'b0;
    end else begin
      div_start <= 1'b0;
      unique case (state)
        LOAD: if (s_axis_tvalid) begin
          logic signed [31:0] m;
          m = max_v;
          for (int l = 0; l < IN_LANES; l++) begin
            logic [IW-1:0] j;
            logic signed [31:0] v;
            j = IW'(32'(idx) * IN_LANES + l);
            v = s_axis_tdata[32*l+:32];
            if (j < n_i) begin
              logit_mem[j[$clog2(MAX_N)-1:0]] <= v;
              if (j == 0 || v > m) m = v;
            end
          end
          max_v <= m;
          if (idx == in_beats - 1'b1) begin
            state <= EXP;
            idx <= '0;
            total <= '0;
          end else begin
            idx <= idx + 1'b1;
          end
        end
        EXP: begin
          for (int l = 0; l < EXP_LANES; l++) begin
            logic [IW-1:0] j;
            j = idx + IW'(l);
            if (j < n_i) e_mem[j[$clog2(MAX_N)-1:0]] <= e_val[l];
          end
          total <= total + e_sum;
          if (32'(idx) + EXP_LANES >= 32'(n_i)) begin
            state <= DIV;
            div_start <= 1'b1;  // total holds its final value from the next cycle on
          end else begin
            idx <= idx + IW'(EXP_LANES);
          end
        end
        DIV: if (div_done) begin
          state <= OUT;
          idx <= '0;
        end
        OUT: if (m_axis_tready) begin
          if (idx == out_beats - 1'b1) begin
            state <= LOAD;
            idx <= '0;
          end else begin
            idx <= idx + 1'b1;
          end
        end
        default: state <= LOAD;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ div_busy;
endmodule
