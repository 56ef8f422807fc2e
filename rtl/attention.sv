// Engine `attention`: Q, K, V projections and the output projection on one `linear` engine,
// per-head Q.K^T (LANES products per cycle), integer softmax (`softmax` engine) over the
// live keys, A.V, head concat, and the residual fused into the projection's write-back
// (docs/numerics.md). In: h rows (LN1 output), then x rows (the block input), `dim` int8
// each. Out: n rows of `dim` int8 (res1).
module attention #(
    parameter int LANES = 8,
    parameter int MAX_N = 64,
    parameter int MAX_D = 128
) (
    input  logic                             clk,
    input  logic                             rst_n,
    input  logic [15:0]                      n,
    input  logic [15:0]                      dim,
    input  logic [15:0]                      heads,
    input  logic [15:0]                      head_dim,     // multiple of 8
    // q, k, v (requantize) and proj (residual): weight/bias addresses and fracs, index 0..3
    input  logic [3:0][31:0]                 w_addr,
    input  logic [3:0][31:0]                 b_addr,
    input  logic [3:0][7:0]                  frac_acc,
    input  logic [3:0][7:0]                  frac_out,
    input  logic signed [7:0]                frac_res,     // proj: the block input's frac
    input  logic signed [7:0]                frac_s,       // logits: frac(q) + frac(k)
    input  logic signed [7:0]                frac_v,
    input  logic signed [7:0]                frac_attn_out,
    output logic                             mem_req_valid,
    input  logic                             mem_req_ready,
    output logic [31:0]                      mem_req_addr,
    output logic [15:0]                      mem_req_beats,
    input  logic                             mem_rsp_valid,
    output logic                             mem_rsp_ready,
    input  logic [sievit_pkg::BEAT_BITS-1:0] mem_rsp_data,
    input  logic [sievit_pkg::BEAT_BITS-1:0] s_axis_tdata,
    input  logic                             s_axis_tvalid,
    output logic                             s_axis_tready,
    input  logic                             s_axis_tlast,
    output logic [sievit_pkg::BEAT_BITS-1:0] m_axis_tdata,
    output logic                             m_axis_tvalid,
    input  logic                             m_axis_tready,
    output logic                             m_axis_tlast
);
  import sievit_pkg::*;

  localparam int CW = 20;
  localparam int RB = MAX_D / I8_PER_BEAT;        // beats per row (max)
  localparam int WB = MAX_N * RB;                 // beats per tensor (max)
  localparam int BI = $clog2(WB);
  localparam int NI = $clog2(MAX_N);
  localparam int EI = $clog2(MAX_N * MAX_D);

  typedef enum logic [3:0] {
    IN_H, IN_X, LIN_FEED, LIN_COLLECT, QK, SM_FEED, SM_COLLECT, AV, PROJ_A, PROJ_X, PROJ_OUT
  } state_t;
  state_t state;

  logic [BEAT_BITS-1:0] h_buf[WB], x_buf[WB], q_buf[WB], k_buf[WB], v_buf[WB];
  logic signed [7:0] a_buf[MAX_N * MAX_D];
  logic signed [31:0] logit[MAX_N];
  logic [7:0] prob[MAX_N];
  logic [1:0] proj_sel;                 // which projection runs on the linear engine (0 q, 1 k, 2 v)
  logic [CW-1:0] beat, t, j, kk, c, hd;
  logic signed [31:0] acc;

  wire [CW-1:0] row_beats = CW'(dim / 16'(I8_PER_BEAT));
  wire [CW-1:0] tensor_beats = CW'(n) * row_beats;
  wire [CW-1:0] hd_steps = CW'(head_dim / 16'(LANES));
  wire [CW-1:0] pair_beats = CW'((32'(n) + 1) / 2);
  wire [CW-1:0] prob_beats = CW'((32'(n) + 7) / 8);
  wire [CW-1:0] c0 = hd * CW'(head_dim);    // first channel of head hd

  // ---- engines
  logic [BEAT_BITS-1:0] l_s_tdata, l_m_tdata, sm_s_tdata, sm_m_tdata;
  logic l_s_tvalid, l_s_tready, l_m_tvalid, l_m_tready, l_m_tlast;
  logic sm_s_tvalid, sm_s_tready, sm_m_tvalid, sm_m_tready, sm_m_tlast;
  logic [31:0] l_mac;
  wire proj = (state == PROJ_A) || (state == PROJ_X) || (state == PROJ_OUT);
  wire [1:0] sel = proj ? 2'd3 : proj_sel;

  linear #(.LANES(LANES), .MAX_N(MAX_N), .MAX_IN(MAX_D), .MAX_OUT(MAX_D)) u_linear (
      .clk, .rst_n,
      .n_in(dim), .n_out(dim), .n_rows(n),
      .w_addr(w_addr[sel]), .b_addr(b_addr[sel]),
      .epi(proj ? 2'(EPI_RESIDUAL) : 2'(EPI_REQUANT)),
      .frac_acc(frac_acc[sel]), .frac_out(frac_out[sel]),
      .frac_gelu_in(8'sd0), .frac_res(frac_res),
      .mem_req_valid, .mem_req_ready, .mem_req_addr, .mem_req_beats,
      .mem_rsp_valid, .mem_rsp_ready, .mem_rsp_data,
      .s_axis_tdata(l_s_tdata), .s_axis_tvalid(l_s_tvalid), .s_axis_tready(l_s_tready),
      .s_axis_tlast(1'b0),
      .m_axis_tdata(l_m_tdata), .m_axis_tvalid(l_m_tvalid), .m_axis_tready(l_m_tready),
      .m_axis_tlast(l_m_tlast), .mac_cycles(l_mac));

  softmax #(.MAX_N(MAX_N)) u_softmax (
      .clk, .rst_n, .n(n), .frac(frac_s),
      .s_axis_tdata(sm_s_tdata), .s_axis_tvalid(sm_s_tvalid), .s_axis_tready(sm_s_tready),
      .s_axis_tlast(1'b0),
      .m_axis_tdata(sm_m_tdata), .m_axis_tvalid(sm_m_tvalid), .m_axis_tready(sm_m_tready),
      .m_axis_tlast(sm_m_tlast));

  // ---- datapath
  // Q.K^T: LANES products of query t and key j, chunk kk of head hd
  logic signed [31:0] qk;
  always_comb begin
    logic [BEAT_BITS-1:0] qw, kw;
    qk = '0;
    qw = q_buf[BI'(t * row_beats + ((c0 + kk * CW'(LANES)) >> 3))];
    kw = k_buf[BI'(j * row_beats + ((c0 + kk * CW'(LANES)) >> 3))];
    for (int l = 0; l < I8_PER_BEAT; l++)
      qk = qk + 32'(signed'(qw[8*l+:8])) * 32'(signed'(kw[8*l+:8]));
  end
  // A.V: eight keys per cycle for channel c0 + c
  logic signed [31:0] av;
  always_comb begin
    av = '0;
    for (int l = 0; l < I8_PER_BEAT; l++) begin
      logic [CW-1:0] jj, ch;
      logic [BEAT_BITS-1:0] vw;
      jj = j + CW'(l);
      ch = c0 + c;
      vw = v_buf[BI'(jj * row_beats + (ch >> 3))];
      if (jj < CW'(n))
        av = av + 32'(prob[NI'(jj)]) * 32'(signed'(vw[8*ch[2:0]+:8]));
    end
  end
  // a rows assembled into beats for the projection
  logic [BEAT_BITS-1:0] a_word;
  always_comb begin
    for (int l = 0; l < I8_PER_BEAT; l++)
      a_word[8*l+:8] = a_buf[EI'(beat * CW'(I8_PER_BEAT) + CW'(l))];
  end

  assign s_axis_tready = (state == IN_H) || (state == IN_X);
  always_comb begin
    l_s_tdata = '0;
    l_s_tvalid = 1'b0;
    unique case (state)
      LIN_FEED: begin
        l_s_tdata = h_buf[BI'(beat)];
        l_s_tvalid = 1'b1;
      end
      PROJ_A: begin
        l_s_tdata = a_word;
        l_s_tvalid = 1'b1;
      end
      PROJ_X: begin
        l_s_tdata = x_buf[BI'(beat)];
        l_s_tvalid = 1'b1;
      end
      default: ;
    endcase
  end
  assign l_m_tready = (state == LIN_COLLECT) || ((state == PROJ_OUT) && m_axis_tready);
  assign m_axis_tdata = l_m_tdata;
  assign m_axis_tvalid = (state == PROJ_OUT) && l_m_tvalid;
  assign m_axis_tlast = (state == PROJ_OUT) && l_m_tlast;
  assign sm_s_tvalid = (state == SM_FEED);
  always_comb begin
    sm_s_tdata = '0;
    for (int l = 0; l < 2; l++)
      if (beat * 2 + CW'(l) < CW'(n)) sm_s_tdata[32*l+:32] = logit[NI'(beat * 2 + CW'(l))];
  end
  assign sm_m_tready = (state == SM_COLLECT);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= IN_H;
      beat <= '0;
      t <= '0;
      j <= '0;
      kk <= '0;
      c <= '0;
      hd <= '0;
      acc <= '0;
      proj_sel <= '0;
    end else begin
      unique case (state)
        IN_H: if (s_axis_tvalid) begin
          h_buf[BI'(beat)] <= s_axis_tdata;
          if (beat == tensor_beats - 1'b1) begin
            state <= IN_X;
            beat <= '0;
          end else beat <= beat + 1'b1;
        end
        IN_X: if (s_axis_tvalid) begin
          x_buf[BI'(beat)] <= s_axis_tdata;
          beat <= (beat == tensor_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == tensor_beats - 1'b1) begin
            state <= LIN_FEED;
            proj_sel <= '0;
          end
        end
        LIN_FEED: if (l_s_tready) begin
          beat <= (beat == tensor_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == tensor_beats - 1'b1) state <= LIN_COLLECT;
        end
        LIN_COLLECT: if (l_m_tvalid) begin
          unique case (proj_sel)
            2'd0: q_buf[BI'(beat)] <= l_m_tdata;
            2'd1: k_buf[BI'(beat)] <= l_m_tdata;
            default: v_buf[BI'(beat)] <= l_m_tdata;
          endcase
          beat <= (beat == tensor_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == tensor_beats - 1'b1) begin
            if (proj_sel == 2'd2) begin
              state <= QK;
              hd <= '0;
              t <= '0;
              j <= '0;
              kk <= '0;
              acc <= '0;
            end else begin
              proj_sel <= proj_sel + 1'b1;
              state <= LIN_FEED;
            end
          end
        end
        QK: begin  // logit[j] of query t, head hd: hd_steps cycles per key
          if (kk == hd_steps - 1'b1) begin
            logit[NI'(j)] <= acc + qk;
            acc <= '0;
            kk <= '0;
            if (j == CW'(n) - 1'b1) begin
              state <= SM_FEED;
              beat <= '0;
            end else j <= j + 1'b1;
          end else begin
            acc <= acc + qk;
            kk <= kk + 1'b1;
          end
        end
        SM_FEED: if (sm_s_tready) begin
          beat <= (beat == pair_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == pair_beats - 1'b1) state <= SM_COLLECT;
        end
        SM_COLLECT: if (sm_m_tvalid) begin
          for (int l = 0; l < I8_PER_BEAT; l++)
            if (beat * 8 + CW'(l) < CW'(n)) prob[NI'(beat * 8 + CW'(l))] <= sm_m_tdata[8*l+:8];
          beat <= (beat == prob_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == prob_beats - 1'b1) begin
            state <= AV;
            c <= '0;
            j <= '0;
            acc <= '0;
          end
        end
        AV: begin  // channel c of query t: eight keys per cycle
          if (j + 8 >= CW'(n)) begin
            a_buf[EI'(t * CW'(dim) + c0 + c)] <= requant(64'(acc + av), 8 + 32'(frac_v),
                                                          32'(frac_attn_out));
            acc <= '0;
            j <= '0;
            if (c == CW'(head_dim) - 1'b1) begin
              c <= '0;
              if (t == CW'(n) - 1'b1) begin
                t <= '0;
                if (hd == CW'(heads) - 1'b1) begin
                  state <= PROJ_A;
                  beat <= '0;
                end else begin
                  hd <= hd + 1'b1;
                  state <= QK;
                end
              end else begin
                t <= t + 1'b1;
                state <= QK;
              end
            end else c <= c + 1'b1;
          end else begin
            acc <= acc + av;
            j <= j + 8;
          end
        end
        PROJ_A: if (l_s_tready) begin
          beat <= (beat == tensor_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == tensor_beats - 1'b1) state <= PROJ_X;
        end
        PROJ_X: if (l_s_tready) begin
          beat <= (beat == tensor_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == tensor_beats - 1'b1) state <= PROJ_OUT;
        end
        PROJ_OUT: if (m_axis_tready && l_m_tvalid && l_m_tlast) begin
          state <= IN_H;
          beat <= '0;
        end
        default: state <= IN_H;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ sm_m_tlast ^ (|l_mac);
endmodule
