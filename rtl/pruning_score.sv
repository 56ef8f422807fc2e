// Engine `pruning`, score half: the HeatViT selector's keep score (Q0.8) of every live row
// (docs/numerics.md, "HeatViT selector"): LayerNorm (`layernorm` engine), per-head local
// layer with GELU, global mean of the non-CLS rows (div_round), per-head [local, global]
// layer with GELU, per-head keep/prune logits, PLAN sigmoid, head weights from the global
// vector, head-weighted fuse. All layers run on one `linear` engine, one pass per layer and
// head. In: n rows of `dim` int8. Out: n scores as int32, two per beat.
module pruning_score #(
    parameter int ROWS = 2,           // linear: token rows per cycle
    parameter int COLS = 8,           // linear: output columns per cycle
    parameter int MAX_N = 64,
    parameter int MAX_D = 128,
    parameter int MAXH = 4
) (
    input  logic                             clk,
    input  logic                             rst_n,
    input  logic [15:0]                      n,
    input  logic [15:0]                      dim,
    input  logic [15:0]                      heads,
    input  logic [15:0]                      hid,          // d_h / 2, a multiple of 8
    input  logic [31:0]                      ln_g_addr,
    input  logic [31:0]                      ln_b_addr,
    input  logic signed [7:0]                ln_gamma_frac,
    input  logic signed [7:0]                ln_frac_out,
    // per head h, layer l (0 local, 1 mlp1, 2 mlp2): weight/bias address, accumulator frac
    input  logic [MAXH-1:0][2:0][31:0]       w_addr,
    input  logic [MAXH-1:0][2:0][31:0]       b_addr,
    input  logic [MAXH-1:0][2:0][7:0]        frac_acc,
    input  logic signed [7:0]                local_in,     // GELU input / output fracs
    input  logic signed [7:0]                local_out,
    input  logic signed [7:0]                mlp1_in,
    input  logic signed [7:0]                mlp1_out,
    input  logic [31:0]                      hw_w_addr,    // head weights layer
    input  logic [31:0]                      hw_b_addr,
    input  logic signed [7:0]                hw_frac_acc,
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
  localparam int NI = $clog2(MAX_N);
  localparam int HI = $clog2(MAXH);

  typedef enum logic [3:0] {
    LN_RUN, FEED, COLLECT, GLOB_SUM, GLOB_DIV, FUSE_SUM, FUSE_DIV, OUT
  } state_t;
  typedef enum logic [1:0] {P_LOCAL, P_MLP1, P_MLP2, P_HEADW} pass_t;
  state_t state;
  pass_t pass;

  localparam int WW = MAX_N * MAX_D / I8_PER_BEAT;   // words of an n x width int8 tensor
  localparam int WI = $clog2(WW);
  localparam int GW = MAX_D / I8_PER_BEAT;
  // Tensors are held as 64-bit words (8 int8 each): every row segment a pass reads or writes
  // starts on a word (dim and hid are multiples of 8), so a beat is one word access and the
  // buffers map to RAM.
  logic [BEAT_BITS-1:0] nrm[WW], loc[WW], mid[WW];
  logic [BEAT_BITS-1:0] glob[GW];
  logic [8:0] pq[MAX_N][MAXH];
  logic [8:0] wq[MAXH];
  logic [8:0] score[MAX_N];
  logic [CW-1:0] beat, t, c;
  logic [HI-1:0] h;
  logic ln_done;
  logic signed [31:0] sum[I8_PER_BEAT];  // global mean: the sums of one word's channels
  logic [2:0] gk;                         // the channel of that word being divided
  logic [47:0] den_sum;

  wire [CW-1:0] W = CW'(heads) * CW'(hid);          // local / mid row width
  wire [CW-1:0] w_beats = W >> 3;                   // words per local / mid row
  wire [CW-1:0] d_beats = CW'(dim) >> 3;
  wire [CW-1:0] hid_beats = CW'(hid) >> 3;
  wire [CW-1:0] h_hid_beats = CW'(h) * hid_beats;   // head h's first word in a local row
  // walk of the current feed / collect: word `col` of the row starting at word `row_base`
  logic [CW-1:0] col, row_base;
  wire [CW-1:0] cnt = (n > 16'd1) ? CW'(n) - 1'b1 : CW'(1);
  wire [CW-1:0] pair_beats = (CW'(n) + 1) >> 1;

  // ---- engines: layernorm feeds nrm; linear runs every layer pass
  logic [BEAT_BITS-1:0] ln_m_tdata, l_s_tdata, l_m_tdata;
  logic ln_m_tvalid, ln_m_tlast, ln_req_valid, ln_rsp_ready;
  logic l_s_tready, l_m_tvalid, l_m_tlast, l_req_valid, l_rsp_ready;
  logic [31:0] ln_req_addr, l_req_addr, l_mac;
  logic [15:0] ln_req_beats, l_req_beats;

  layernorm #(.MAX_D(MAX_D)) u_ln (
      .clk, .rst_n, .dim, .n_rows(n), .gamma_addr(ln_g_addr), .beta_addr(ln_b_addr),
      .gamma_frac(ln_gamma_frac), .frac_out(ln_frac_out),
      .mem_req_valid(ln_req_valid), .mem_req_ready(mem_req_ready && !ln_done),
      .mem_req_addr(ln_req_addr), .mem_req_beats(ln_req_beats),
      .mem_rsp_valid(mem_rsp_valid && !ln_done), .mem_rsp_ready(ln_rsp_ready), .mem_rsp_data,
      .s_axis_tdata, .s_axis_tvalid, .s_axis_tready, .s_axis_tlast,
      .m_axis_tdata(ln_m_tdata), .m_axis_tvalid(ln_m_tvalid), .m_axis_tready(state == LN_RUN),
      .m_axis_tlast(ln_m_tlast));

  logic [15:0] l_n_in, l_n_out, l_rows;
  logic [31:0] l_w, l_b;
  logic [1:0] l_epi;
  logic [7:0] l_frac_acc, l_frac_out, l_frac_gelu_in;
  // head h's row of the per-layer tables (one variable index per select: Icarus 11 rejects two)
  logic [2:0][31:0] w_addr_h, b_addr_h;
  logic [2:0][7:0] frac_acc_h;
  assign w_addr_h = w_addr[h];
  assign b_addr_h = b_addr[h];
  assign frac_acc_h = frac_acc[h];
  always_comb begin
    l_rows = n;
    l_epi = 2'(EPI_GELU);
    l_w = w_addr_h[32'(pass)];
    l_b = b_addr_h[32'(pass)];
    l_frac_acc = frac_acc_h[32'(pass)];
    l_frac_out = local_out;
    l_frac_gelu_in = local_in;
    l_n_in = 16'(CW'(hid) << 1);
    l_n_out = hid;
    unique case (pass)
      P_LOCAL: ;
      P_MLP1: begin
        l_frac_out = mlp1_out;
        l_frac_gelu_in = mlp1_in;
      end
      P_MLP2: begin
        l_epi = 2'(EPI_RAW);
        l_n_in = hid;
        l_n_out = 16'd2;
      end
      default: begin  // head weights: one row, the global vector
        l_epi = 2'(EPI_RAW);
        l_w = hw_w_addr;
        l_b = hw_b_addr;
        l_frac_acc = hw_frac_acc;
        l_n_in = 16'(W);
        l_n_out = heads;
        l_rows = 16'd1;
      end
    endcase
  end

  linear #(.LANES(8), .ROWS(ROWS), .COLS(COLS), .MAX_N(MAX_N), .MAX_IN(MAX_D), .MAX_OUT(MAX_D)) u_linear (
      .clk, .rst_n, .n_in(l_n_in), .n_out(l_n_out), .n_rows(l_rows), .w_addr(l_w), .b_addr(l_b),
      .wl_start(1'b0), .wl_addr(32'd0),
      .epi(l_epi), .frac_acc(l_frac_acc), .frac_out(l_frac_out), .frac_gelu_in(l_frac_gelu_in),
      .frac_res(8'sd0),
      .mem_req_valid(l_req_valid), .mem_req_ready(mem_req_ready && ln_done),
      .mem_req_addr(l_req_addr), .mem_req_beats(l_req_beats),
      .mem_rsp_valid(mem_rsp_valid && ln_done), .mem_rsp_ready(l_rsp_ready), .mem_rsp_data,
      .s_axis_tdata(l_s_tdata), .s_axis_tvalid(state == FEED), .s_axis_tready(l_s_tready),
      .s_axis_tlast(1'b0),
      .m_axis_tdata(l_m_tdata), .m_axis_tvalid(l_m_tvalid), .m_axis_tready(state == COLLECT),
      .m_axis_tlast(l_m_tlast), .mac_cycles(l_mac));

  assign mem_req_valid = ln_done ? l_req_valid : ln_req_valid;
  assign mem_req_addr = ln_done ? l_req_addr : ln_req_addr;
  assign mem_req_beats = ln_done ? l_req_beats : ln_req_beats;
  assign mem_rsp_ready = ln_done ? l_rsp_ready : ln_rsp_ready;

  // ---- feed words: word `col` of the current row of the pass's input. One read address
  // per buffer (a single RAM read port each).
  wire [CW-1:0] in_beats = CW'(l_n_in) >> 3;
  localparam int GWI = $clog2(GW);
  wire [WI-1:0] loc_raddr = (state == GLOB_SUM) ? WI'(row_base + c)
                                                : WI'(row_base + h_hid_beats + col);
  wire [GWI-1:0] glob_raddr = (pass == P_MLP1) ? GWI'(h_hid_beats + col - hid_beats) : GWI'(col);
  wire [BEAT_BITS-1:0] nrm_rdata = nrm[WI'(row_base + (h_hid_beats << 1) + col)];
  wire [BEAT_BITS-1:0] loc_rdata = loc[loc_raddr];
  wire [BEAT_BITS-1:0] mid_rdata = mid[WI'(row_base + h_hid_beats + col)];
  wire [BEAT_BITS-1:0] glob_rdata = glob[glob_raddr];
  always_comb begin
    unique case (pass)
      P_LOCAL: l_s_tdata = nrm_rdata;
      P_MLP1: l_s_tdata = (col < hid_beats) ? loc_rdata : glob_rdata;
      P_MLP2: l_s_tdata = mid_rdata;
      default: l_s_tdata = glob_rdata;
    endcase
  end
  // row stride of the feed in words: nrm rows are dim wide, local / mid rows W wide
  wire [CW-1:0] feed_stride = (pass == P_LOCAL) ? d_beats : w_beats;
  wire feed_row_end = (col == in_beats - 1'b1);
  wire collect_row_end = (col == hid_beats - 1'b1);
  wire [CW-1:0] feed_beats = (pass == P_HEADW) ? in_beats : CW'(n) * in_beats;
  wire [CW-1:0] collect_beats = (pass == P_HEADW) ? ((CW'(heads) + 1) >> 1)
                              : (pass == P_MLP2) ? CW'(n) : CW'(n) * hid_beats;

  // ---- divider: global means (signed, div_round) and the fused score (unsigned floor)
  logic div_start, div_done, div_busy;
  logic [47:0] div_num, div_den;
  /* verilator lint_off UNUSEDSIGNAL */
  logic [47:0] div_q;  // means fit int8 and scores 9 bits
  /* verilator lint_on UNUSEDSIGNAL */
  udiv #(.W(48), .BITS(8)) u_div (.clk, .rst_n, .start(div_start), .num(div_num), .den(div_den),
                        .quot(div_q), .busy(div_busy), .done(div_done));
  logic glob_neg;
  // div_round(sum, cnt) = floor((2 sum + cnt) / (2 cnt)) (floor for negatives) of channel
  // g_sel of the word: the first after GLOB_SUM, the next after each division
  wire [2:0] g_sel = (state == GLOB_DIV) ? gk + 1'b1 : 3'd0;
  logic signed [47:0] g_nn;
  assign g_nn = 48'sd2 * 48'(sum[g_sel]) + 48'(cnt);

  // fuse inputs of token t
  logic [47:0] f_num, f_plain, f_den;
  always_comb begin
    f_num = '0;
    f_plain = '0;
    f_den = '0;
    for (int k = 0; k < MAXH; k++) begin
      if (32'(k) < 32'(heads)) begin
        f_num = f_num + 48'(wq[k]) * 48'(pq[NI'(t)][k]);
        f_plain = f_plain + 48'(pq[NI'(t)][k]);
        f_den = f_den + 48'(wq[k]);
      end
    end
  end

  assign m_axis_tvalid = (state == OUT);
  assign m_axis_tlast = (state == OUT) && (beat == pair_beats - 1'b1);
  always_comb begin
    m_axis_tdata = '0;
    for (int l = 0; l < 2; l++)
      if ((beat << 1) + CW'(l) < CW'(n)) m_axis_tdata[32*l+:32] = 32'(score[NI'((beat << 1) + CW'(l))]);
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= LN_RUN;
      pass <= P_LOCAL;
      beat <= '0;
      t <= '0;
      c <= '0;
      col <= '0;
      row_base <= '0;
      h <= '0;
      ln_done <= 1'b0;
      for (int l = 0; l < I8_PER_BEAT; l++) sum[l] <= '0;
      gk <= '0;
      den_sum <= '0;
      div_start <= 1'b0;
      div_num <= '0;
      div_den <= '0;
      glob_neg <= 1'b0;
    end else begin
      div_start <= 1'b0;
      unique case (state)
        LN_RUN: if (ln_m_tvalid) begin
          nrm[WI'(beat)] <= ln_m_tdata;
          beat <= (beat == CW'(n) * d_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == CW'(n) * d_beats - 1'b1) begin
            state <= FEED;
            ln_done <= 1'b1;
            pass <= P_LOCAL;
            h <= '0;
            col <= '0;
            row_base <= '0;
          end
        end
        FEED: if (l_s_tready) begin
          beat <= (beat == feed_beats - 1'b1) ? '0 : beat + 1'b1;
          col <= feed_row_end ? '0 : col + 1'b1;
          row_base <= feed_row_end ? row_base + feed_stride : row_base;
          if (beat == feed_beats - 1'b1) begin
            state <= COLLECT;
            col <= '0;
            row_base <= '0;
          end
        end
        COLLECT: if (l_m_tvalid) begin
          unique case (pass)
            P_LOCAL: loc[WI'(row_base + h_hid_beats + col)] <= l_m_tdata;
            P_MLP1: mid[WI'(row_base + h_hid_beats + col)] <= l_m_tdata;
            P_MLP2: pq[NI'(beat)][h] <= sigmoid_plan(64'($signed(l_m_tdata[31:0])) -
                                                     64'($signed(l_m_tdata[63:32])),
                                                     32'($signed(frac_acc_h[2])));
            default: for (int l = 0; l < 2; l++)
              if ((beat << 1) + CW'(l) < CW'(heads))
                wq[HI'((beat << 1) + CW'(l))] <= sigmoid_plan(64'($signed(l_m_tdata[32*l+:32])),
                                                              32'(hw_frac_acc));
          endcase
          beat <= (beat == collect_beats - 1'b1) ? '0 : beat + 1'b1;
          col <= collect_row_end ? '0 : col + 1'b1;
          row_base <= collect_row_end ? row_base + w_beats : row_base;
          if (beat == collect_beats - 1'b1) begin
            col <= '0;
            row_base <= '0;
            // next pass: local for every head, the global mean, then mlp1 + mlp2 per head,
            // then the head weights, then the fuse
            if (pass == P_LOCAL && 32'(h) != 32'(heads) - 1) begin
              h <= h + 1'b1;
              state <= FEED;
            end else if (pass == P_LOCAL) begin
              state <= GLOB_SUM;
              c <= '0;
              t <= CW'(1);
              row_base <= w_beats;
              for (int l = 0; l < I8_PER_BEAT; l++) sum[l] <= '0;
            end else if (pass == P_MLP1) begin
              pass <= P_MLP2;
              state <= FEED;
            end else if (pass == P_MLP2 && 32'(h) != 32'(heads) - 1) begin
              pass <= P_MLP1;
              h <= h + 1'b1;
              state <= FEED;
            end else if (pass == P_MLP2) begin
              pass <= P_HEADW;
              state <= FEED;
            end else begin
              state <= FUSE_SUM;
              t <= '0;
            end
          end
        end
        GLOB_SUM: begin  // word c (eight channels): sum over rows 1..n-1, one row per cycle
          if (t < CW'(n)) begin
            for (int l = 0; l < I8_PER_BEAT; l++)
              sum[l] <= sum[l] + 32'($signed(loc_rdata[8*l+:8]));
            t <= t + 1'b1;
            row_base <= row_base + w_beats;
          end else begin
            gk <= '0;
            glob_neg <= g_nn < 0;
            div_num <= (g_nn < 0) ? 48'(-g_nn + 48'sd2 * 48'(cnt) - 48'sd1) : 48'(g_nn);
            div_den <= 48'(cnt) << 1;
            div_start <= 1'b1;
            state <= GLOB_DIV;
          end
        end
        GLOB_DIV: if (div_done) begin  // the mean of channel gk of word c; then the next
          glob[GWI'(c)][8*gk+:8] <= glob_neg ? -(8'(div_q)) : 8'(div_q);
          if (gk != 3'(I8_PER_BEAT - 1)) begin
            gk <= gk + 1'b1;
            glob_neg <= g_nn < 0;
            div_num <= (g_nn < 0) ? 48'(-g_nn + 48'sd2 * 48'(cnt) - 48'sd1) : 48'(g_nn);
            div_start <= 1'b1;
          end else begin
            for (int l = 0; l < I8_PER_BEAT; l++) sum[l] <= '0;
            t <= CW'(1);
            row_base <= w_beats;
            if (c == w_beats - 1'b1) begin
              state <= FEED;
              pass <= P_MLP1;
              h <= '0;
              row_base <= '0;
            end else begin
              c <= c + 1'b1;
              state <= GLOB_SUM;
            end
          end
        end
        FUSE_SUM: begin
          den_sum <= f_den;
          div_num <= (f_den != 0) ? f_num : f_plain;
          div_den <= (f_den != 0) ? f_den : 48'(heads);
          div_start <= 1'b1;
          state <= FUSE_DIV;
        end
        FUSE_DIV: if (div_done) begin
          score[NI'(t)] <= 9'(div_q);
          if (t == CW'(n) - 1'b1) begin
            state <= OUT;
            beat <= '0;
          end else begin
            t <= t + 1'b1;
            state <= FUSE_SUM;
          end
        end
        OUT: if (m_axis_tready) begin
          beat <= (beat == pair_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == pair_beats - 1'b1) begin
            state <= LN_RUN;
            ln_done <= 1'b0;
            pass <= P_LOCAL;
            h <= '0;
          end
        end
        default: state <= LN_RUN;
      endcase
    end
  end

  logic unused;
  assign unused = ln_m_tlast ^ l_m_tlast ^ (|l_mac) ^ div_busy ^ (|den_sum);
endmodule
