// Engine `layernorm`: integer LayerNorm of n_rows rows of `dim` int8 values
// (docs/numerics.md). gamma (int8, weight memory) and beta (int32, bias memory) are fetched
// once per tensor through the 64-bit ready/valid burst read port. Rows run through three
// stages at once, each on its own row (row buffers in four banks):
//   load: BEAT / 8 elements per cycle, summing s1 = sum q and s2 = sum q^2; then
//         floor(v / dim) = dim * s2 - s1^2 exactly (v = sum (dim q - s1)^2 = dim (dim s2 - s1^2)),
//         so no variance pass and no division by dim;
//   scale: floor isqrt (two of its 19 bit pairs per cycle), 2^32 / max(isqrt, 1) on the
//         sequential `udiv` (8 quotient bits per cycle); two scale units take the rows in
//         turn (the scale is the longest stage), and the rows leave them in order;
//   out:  BEAT / 8 normalised, scaled, shifted, requantized values per cycle.
module layernorm
#(
    parameter int MAX_D = 768,
    parameter int BEAT = 64        // stream beat bits (the read port stays 64-bit)
) (
    input  logic                 clk,
    input  logic                 rst_n,
    // configuration, stable while a tensor streams
    input  logic [15:0]          dim,         // multiple of 8, <= MAX_D
    input  logic [15:0]          n_rows,
    input  logic [31:0]          gamma_addr,  // byte addresses, 8-byte aligned
    input  logic [31:0]          beta_addr,
    input  logic signed [7:0]    gamma_frac,
    input  logic signed [7:0]    frac_out,
    // burst read port: a request (address, beats), then that many 64-bit words
    output logic                 mem_req_valid,
    input  logic                 mem_req_ready,
    output logic [31:0]          mem_req_addr,
    output logic [15:0]          mem_req_beats,
    input  logic                 mem_rsp_valid,
    output logic                 mem_rsp_ready,
    input  logic [sievit_pkg::BEAT_BITS-1:0] mem_rsp_data,
    // rows in and out
    input  logic [BEAT-1:0] s_axis_tdata,
    input  logic                 s_axis_tvalid,
    output logic                 s_axis_tready,
    input  logic                 s_axis_tlast,
    output logic [BEAT-1:0] m_axis_tdata,
    output logic                 m_axis_tvalid,
    input  logic                 m_axis_tready,
    output logic                 m_axis_tlast
);
  import sievit_pkg::*;
  localparam int B8 = BEAT / 8;   // int8 elements per stream beat

  localparam int DW = $clog2(MAX_D + B8);

  typedef enum logic [2:0] {IDLE, REQ_G, GET_G, REQ_B, GET_B, RUN} state_t;
  typedef enum logic [1:0] {F_LOAD, F_STAT, F_HAND, F_DONE} front_t;
  typedef enum logic [1:0] {M_IDLE, M_SQRT, M_DIV, M_HAND} mid_t;
  state_t state;
  front_t fst;
  localparam int SU = 2;         // scale units
  mid_t mst[SU];
  logic bfull;                   // the out stage holds a row
  logic m_in, m_out;             // the scale unit the next row enters / leaves

  logic signed [7:0] q[4][MAX_D];  // row banks: load writes fb, out reads bb
  logic signed [7:0] gamma[MAX_D];
  logic signed [31:0] beta[MAX_D];
  logic [DW-1:0] beat;           // parameter fetch and load: beat within the phase
  logic [DW-1:0] obeat;          // out: beat within the row
  logic [15:0] frow, orow;       // rows loaded / rows written out
  logic [1:0] fb, bb;            // banks of the load and out stages
  logic [1:0] mb[SU];            //   and of the scale units
  logic signed [31:0] s1;        // load: sum of the row
  logic [31:0] s2;               // load: sum of squares (< 768 * 2^14)
  logic [63:0] var_q;            // load: floor(v / dim) = dim * s2 - s1^2 (< 2^36)
  logic signed [19:0] s1_m[SU], s1_b;  // the row's sum in the scale and out stages (|s1| < 2^17)
  logic [63:0] sq_rem[SU], sq_root[SU];  // isqrt state
  logic [5:0] step[SU];
  logic [32:0] recip;            // out: 2^32 / max(isqrt, 1)
  logic [SU-1:0] div_start, div_done, div_busy;
  logic [47:0] div_den[SU];
  /* verilator lint_off UNUSEDSIGNAL */
  logic [47:0] div_q[SU];
  /* verilator lint_on UNUSEDSIGNAL */

  for (genvar u = 0; u < SU; u++) begin : g_scale
    udiv #(.W(48), .BITS(8)) u_div (.clk, .rst_n, .start(div_start[u]), .num(48'd1 << 32),
                                    .den(div_den[u]), .quot(div_q[u]), .busy(div_busy[u]),
                                    .done(div_done[u]));
  end

  wire [DW-1:0] row_beats = DW'(dim / 16'(B8));              // stream beats per row
  wire [DW-1:0] gamma_beats = DW'(dim / 16'(I8_PER_BEAT));   // read-port words
  wire [DW-1:0] beta_beats = DW'(dim / 16'(I32_PER_BEAT));

  // load: the beat's sum and sum of squares
  logic signed [31:0] s1_beat;
  logic [31:0] s2_beat;
  always_comb begin
    s1_beat = '0;
    s2_beat = '0;
    for (int l = 0; l < B8; l++) begin
      logic signed [7:0] e;
      logic [7:0] a;             // |e| <= 128
      e = s_axis_tdata[8*l+:8];
      a = e[7] ? 8'(16'sd0 - 16'(e)) : 8'(e);
      s1_beat = s1_beat + 32'(e);
      s2_beat = s2_beat + 32'(16'(a) * 16'(a));
    end
  end
  // floor(v / dim) = dim * s2 - s1^2: 11 x 24 and 17 x 17 bits (|s1| <= 768 * 128)
  logic [35:0] var_row;
  always_comb begin
    logic [16:0] a1;
    logic [34:0] ds2;
    logic [33:0] a1sq;
    a1 = s1[31] ? 17'(-s1) : 17'(s1);
    ds2 = 35'(dim[10:0]) * 35'(s2[23:0]);
    a1sq = 34'(a1) * 34'(a1);
    var_row = 36'(ds2) - 36'(a1sq);
  end
  // scale: two isqrt bit pairs (step, step - 1) per cycle, in each unit
  logic [63:0] rem2[SU], root2[SU];
  always_comb begin
    for (int u = 0; u < SU; u++) begin
      rem2[u] = sq_rem[u];
      root2[u] = sq_root[u];
      for (int k = 0; k < 2; k++) begin
        logic [63:0] trial;
        logic [5:0] st;
        st = step[u] - 6'(k);
        trial = '0;
        if (k == 0 || step[u] != 6'd0) begin
          trial = root2[u] + (64'd1 << (2 * st));
          if (rem2[u] >= trial) begin
            rem2[u] = rem2[u] - trial;
            root2[u] = (root2[u] >> 1) + (64'd1 << (2 * st));
          end else begin
            root2[u] = root2[u] >> 1;
          end
        end
      end
    end
  end

  // out: BEAT / 8 normalised, scaled, shifted, requantized values of beat obeat of bank bb
  logic [BEAT-1:0] out_word;
  always_comb begin
    for (int l = 0; l < B8; l++) begin
      logic signed [19:0] c;
      logic signed [53:0] cr;  // c * recip: |c| < 2^18 (20-bit signed), recip <= 2^32
      logic signed [63:0] y;
      /* verilator lint_off UNUSEDSIGNAL */
      logic signed [63:0] nrm_w;
      /* verilator lint_on UNUSEDSIGNAL */
      logic signed [23:0] nrm; // |c| <= sqrt(v) and recip <= 2^33 / sqrt(v / dim): |nrm| < 2^15
      /* verilator lint_off UNUSEDSIGNAL */
      int k;  // element index: only its low bits address the row
      /* verilator lint_on UNUSEDSIGNAL */
      k = 32'(obeat) * B8 + l;
      c = 20'(20'($signed({1'b0, dim[10:0]})) * 20'(q[bb][k]) - 20'(s1_b));
      cr = 54'(c) * 54'($signed({1'b0, recip}));
      nrm_w = rshift_rne(64'(cr), 24);
      nrm = nrm_w[23:0];
      y = 64'(32'(nrm) * 32'(gamma[k])) + 64'(beta[k]);
      out_word[8*l+:8] = requant(y, 8 + 32'(gamma_frac), 32'(frac_out));
    end
  end

  // stage hand-overs; a bank is free when neither later stage holds it
  wire out_last = bfull && m_axis_tready && (obeat == row_beats - 1'b1);
  wire bank_free = !(mst[0] != M_IDLE && mb[0] == fb) && !(mst[1] != M_IDLE && mb[1] == fb) &&
                   !(bfull && bb == fb);
  wire m_hand = (fst == F_HAND) && (mst[m_in] == M_IDLE);
  wire k_hand = (mst[m_out] == M_HAND) && (!bfull || out_last);

  assign mem_req_valid = (state == REQ_G) || (state == REQ_B);
  assign mem_req_addr = (state == REQ_G) ? gamma_addr : beta_addr;
  assign mem_req_beats = (state == REQ_G) ? 16'(gamma_beats) : 16'(beta_beats);
  assign mem_rsp_ready = (state == GET_G) || (state == GET_B);
  assign s_axis_tready = (state == RUN) && (fst == F_LOAD) && bank_free;
  assign m_axis_tvalid = (state == RUN) && bfull;
  assign m_axis_tdata = out_word;
  assign m_axis_tlast = bfull && (obeat == row_beats - 1'b1) && (orow == n_rows - 1'b1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= IDLE;
      fst <= F_LOAD;
      bfull <= 1'b0;
      {m_in, m_out} <= '0;
      beat <= '0;
      obeat <= '0;
      frow <= '0;
      orow <= '0;
      {fb, bb} <= '0;
      s1 <= '0;
      s2 <= '0;
      var_q <= '0;
      s1_b <= '0;
      recip <= '0;
      div_start <= '0;
      for (int u = 0; u < SU; u++) begin
        mst[u] <= M_IDLE;
        mb[u] <= '0;
        s1_m[u] <= '0;
        sq_rem[u] <= '0;
        sq_root[u] <= '0;
        step[u] <= '0;
        div_den[u] <= '0;
      end
    end else begin
      div_start <= '0;
      unique case (state)
        IDLE: if (s_axis_tvalid) begin
          state <= REQ_G;
        end
        REQ_G: if (mem_req_ready) begin
          state <= GET_G;
          beat <= '0;
        end
        GET_G: if (mem_rsp_valid) begin
          for (int l = 0; l < I8_PER_BEAT; l++) gamma[32'(beat) * I8_PER_BEAT + l] <= mem_rsp_data[8*l+:8];
          if (beat == gamma_beats - 1'b1) state <= REQ_B;
          beat <= (beat == gamma_beats - 1'b1) ? '0 : beat + 1'b1;
        end
        REQ_B: if (mem_req_ready) begin
          state <= GET_B;
          beat <= '0;
        end
        GET_B: if (mem_rsp_valid) begin
          for (int l = 0; l < I32_PER_BEAT; l++) beta[32'(beat) * I32_PER_BEAT + l] <= mem_rsp_data[32*l+:32];
          if (beat == beta_beats - 1'b1) begin
            state <= RUN;
            fst <= F_LOAD;
            for (int u = 0; u < SU; u++) mst[u] <= M_IDLE;
            {m_in, m_out} <= '0;
            bfull <= 1'b0;
            frow <= '0;
            orow <= '0;
            obeat <= '0;
            {fb, bb} <= '0;
            s1 <= '0;
            s2 <= '0;
          end
          beat <= (beat == beta_beats - 1'b1) ? '0 : beat + 1'b1;
        end
        RUN: begin
          // load
          unique case (fst)
            F_LOAD: if (s_axis_tvalid && s_axis_tready) begin
              for (int l = 0; l < B8; l++) q[fb][32'(beat) * B8 + l] <= s_axis_tdata[8*l+:8];
              s1 <= s1 + s1_beat;
              s2 <= s2 + s2_beat;
              if (beat == row_beats - 1'b1) fst <= F_STAT;
              beat <= (beat == row_beats - 1'b1) ? '0 : beat + 1'b1;
            end
            F_STAT: begin
              var_q <= 64'(var_row);
              fst <= F_HAND;
            end
            F_HAND: if (m_hand) begin
              s1 <= '0;
              s2 <= '0;
              fb <= fb + 2'd1;
              frow <= frow + 1'b1;
              fst <= (frow == n_rows - 1'b1) ? F_DONE : F_LOAD;
            end
            default: ;
          endcase
          // scale: unit m_in takes the next row, unit m_out hands its row on
          if (m_hand) m_in <= ~m_in;
          if (k_hand) m_out <= ~m_out;
          for (int u = 0; u < SU; u++) begin
            unique case (mst[u])
              M_IDLE: if (m_hand && 32'(m_in) == u) begin
                mst[u] <= M_SQRT;
                mb[u] <= fb;
                s1_m[u] <= 20'(s1);
                sq_rem[u] <= var_q;
                sq_root[u] <= '0;
                step[u] <= 6'd18;   // v / dim < 2^36 < 4^19: bit pairs 18..0
              end
              M_SQRT: begin
                sq_rem[u] <= rem2[u];
                sq_root[u] <= root2[u];
                if (step[u] <= 6'd1) begin
                  mst[u] <= M_DIV;
                  div_den[u] <= (root2[u] == 0) ? 48'd1 : 48'(root2[u]);
                  div_start[u] <= 1'b1;
                end else step[u] <= step[u] - 6'd2;
              end
              M_DIV: if (div_done[u]) mst[u] <= M_HAND;
              M_HAND: if (k_hand && 32'(m_out) == u) mst[u] <= M_IDLE;
              default: mst[u] <= M_IDLE;
            endcase
          end
          // out
          if (m_axis_tvalid && m_axis_tready) begin
            obeat <= (obeat == row_beats - 1'b1) ? '0 : obeat + 1'b1;
            if (obeat == row_beats - 1'b1) begin
              bfull <= 1'b0;
              orow <= orow + 1'b1;
              if (orow == n_rows - 1'b1) state <= IDLE;
            end
          end
          if (k_hand) begin   // overrides the end of the previous row
            bfull <= 1'b1;
            bb <= mb[m_out];
            s1_b <= s1_m[m_out];
            recip <= div_q[m_out][32:0];
          end
        end
        default: state <= IDLE;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ (|div_busy);
endmodule
