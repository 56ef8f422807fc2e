// Engine `softmax`: I-BERT integer softmax of one row of n int32 logits (docs/numerics.md).
// In: ceil(n/2) beats of two int32 logits. Out: ceil(n/8) beats of eight uint8
// probabilities at frac 8 (zero padded), TLAST on the last. Two stages that overlap rows:
// the front loads (tracking the max) and exponentiates (EXP_LANES elements per cycle, running
// sum); the back takes the reciprocal (the sequential `udiv`, 8 bits per cycle) and
// normalises (BEAT / 8 elements per beat). Row r + 1 enters while row r leaves.
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

  // two stages, so that row r + 1 loads and exponentiates while row r divides and leaves:
  // front (LOAD, EXP) writes e_mem[fb], back (DIV, OUT) reads e_mem[bb]
  typedef enum logic [1:0] {F_LOAD, F_EXP, F_HAND} front_t;
  typedef enum logic [1:0] {BK_IDLE, BK_DIV, BK_OUT} back_t;
  front_t fstate;
  back_t bstate;

  logic signed [31:0] logit_mem[MAX_N];
  logic [21:0] e_mem[2][MAX_N];   // exp values < 2^22, one bank per stage
  logic fb, bb;                   // the banks of the front and the back
  logic [IW-1:0] idx;             // front: element index (load, exp)
  logic [IW-1:0] oidx;            // back: output beat
  logic [15:0] bn;                // back: the row's n
  logic signed [31:0] max_v;
  logic [39:0] total;             // sum of e: < 2^23 * MAX_N
  logic [39:0] btotal;            // back: the row's sum
  logic div_start, div_done, div_busy;
  /* verilator lint_off UNUSEDSIGNAL */
  logic [47:0] div_q;             // floor(2^32 / total) < 2^33
  /* verilator lint_on UNUSEDSIGNAL */
  wire [32:0] recip = div_q[32:0];

  udiv #(.W(48), .BITS(8)) u_div (.clk, .rst_n, .start(div_start), .num(48'd1 << 32),
                                  .den(48'(btotal)), .quot(div_q), .busy(div_busy),
                                  .done(div_done));

  wire [IW-1:0] n_i = IW'(n);
  wire [IW-1:0] bn_i = IW'(bn);
  wire [IW-1:0] in_beats = IW'((32'(n) + IN_LANES - 1) / IN_LANES);
  wire [IW-1:0] out_beats = IW'((32'(bn) + B8 - 1) / B8);

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
      j = IW'(oidx * B8 + IW'(l));
      prod = 56'(e_mem[bb][j[$clog2(MAX_N)-1:0]]) * 56'(recip) + (56'(1) << 23);
      o = prod[55:24];
      out_word[8*l+:8] = (j >= bn_i) ? 8'd0 : (o > 32'd255 ? 8'd255 : o[7:0]);
    end
  end

  // the front hands a finished row to the back when the back is free (idle, or on its last
  // output beat)
  wire exp_last = (fstate == F_EXP) && (32'(idx) + EXP_LANES >= 32'(n_i));
  wire [39:0] row_total = (fstate == F_EXP) ? total + e_sum : total;
  wire out_last = (bstate == BK_OUT) && m_axis_tready && (oidx == out_beats - 1'b1);
  wire hand = (exp_last || fstate == F_HAND) && (bstate == BK_IDLE || out_last);

  assign s_axis_tready = (fstate == F_LOAD);
  assign m_axis_tvalid = (bstate == BK_OUT);
  assign m_axis_tdata = out_word;
  assign m_axis_tlast = (bstate == BK_OUT) && (oidx == out_beats - 1'b1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      fstate <= F_LOAD;
      bstate <= BK_IDLE;
      fb <= 1'b0;
      bb <= 1'b0;
      idx <= '0;
      oidx <= '0;
      bn <= '0;
      max_v <= '0;
      total <= '0;
      btotal <= '0;
      div_start <= 1'b0;
    end else begin
      div_start <= 1'b0;
      unique case (fstate)
        F_LOAD: if (s_axis_tvalid) begin
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
            fstate <= F_EXP;
            idx <= '0;
            total <= '0;
          end else begin
            idx <= idx + 1'b1;
          end
        end
        F_EXP: begin
          for (int l = 0; l < EXP_LANES; l++) begin
            logic [IW-1:0] j;
            j = idx + IW'(l);
            if (j < n_i) e_mem[fb][j[$clog2(MAX_N)-1:0]] <= e_val[l];
          end
          total <= row_total;
          if (exp_last) begin
            fstate <= hand ? F_LOAD : F_HAND;
            idx <= '0;
          end else begin
            idx <= idx + IW'(EXP_LANES);
          end
        end
        F_HAND: if (hand) fstate <= F_LOAD;
        default: fstate <= F_LOAD;
      endcase
      if (hand) fb <= ~fb;

      unique case (bstate)
        BK_IDLE: ;
        BK_DIV: if (div_done) begin
          bstate <= BK_OUT;
          oidx <= '0;
        end
        BK_OUT: if (m_axis_tready) begin
          oidx <= oidx + 1'b1;
          if (oidx == out_beats - 1'b1) bstate <= BK_IDLE;
        end
        default: bstate <= BK_IDLE;
      endcase
      if (hand) begin  // the row in e_mem[fb] moves to the back (overrides BK_OUT's last beat)
        bstate <= BK_DIV;
        bb <= fb;
        bn <= n;
        btotal <= row_total;
        div_start <= 1'b1;  // btotal holds the row's sum from the next cycle on
      end
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ div_busy;
endmodule
