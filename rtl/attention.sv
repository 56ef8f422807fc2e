// Engine `attention`: Q, K, V projections and the output projection on one `linear` engine,
// per-head Q.K^T (QK_KEYS keys x LANES channels per cycle, key pairs packed per DSP), integer
// softmax (`softmax` engine) over the live keys, A.V (AV_KEYS keys x 8 channels per cycle,
// channel pairs packed), head concat, and the residual fused into the projection's write-back
// (docs/numerics.md). K and V rows are banked by key so that each bank serves one read per
// cycle. In: h rows (LN1 output), then x rows (the block input), `dim` int8 each. Out: n rows
// of `dim` int8 (res1). Score sources, taken from the probabilities as the softmax hands
// them over (int32 pairs in the low 64 bits of ceil(n/2) beats after the rows; entry 0,
// CLS, is 0):
//   score_out = 1 (EViT, rd.cls_attention): a_j = sum_h A_h[0, j];
//   score_out = 2 (CP-ViT, rd.cpvit_accumulate): reads the tokens' cumulative scores
//     (ceil(n/2) beats after x) and writes cum_j + sum_h max_i A_h[i, j];
//   score_out = 3 (ToMe, rd.size_bias and rd.unit_keys): reads the tokens' sizes (ceil(n/2)
//     beats after x), adds ln(size_j) at the logits' frac (the ROM log_size, round half to
//     even) to every logit of key j, and writes each row's unit key after the rows instead
//     of scores: u = div_round(kbar * 2^7, max(isqrt(|kbar|^2), 1)), kbar = sum_h K_h, as
//     head_dim int16 per row (BEAT / 16 a beat, little-endian). kbar is summed as K's rows
//     come; a unit (u_*) turns them into unit keys while V, Q.K^T and A.V run.
//   score_out = 4 (PPT, rd.ppt_score): as 3, and after the unit keys the scores
//     s_j = (sum_h A_h[0, j]) * isqrt(sum_c v_jc^2) (CLS: 0) as int32 pairs in the low 64
//     bits of ceil(n/2) beats. sum_c v^2 is summed as V's rows come, and a unit (v_*) takes
//     its integer square root (one bit a cycle) while Q.K^T and A.V run. s < 2^23: the CLS
//     attention is <= 255 MAX_HEADS < 2^11, the root <= 128 sqrt(MAX_D) <= 2^11 (MAX_D <= 256);
//   score_out = 5: proportional attention only (the sizes in and the ln bias, as 3).
// CP-ViT's heads: head_track adds each head's mass sum_{j>=1} max_i A_h[i, j] to a
// per-head register (head_reset clears them first); head_select = P > 0 marks the P heads
// of least mass pruned (ties: the higher head first, rd.cpvit_head_mask); with head_apply
// the pruned heads skip Q.K^T, softmax and A.V and their output channels are 0.
module attention #(
    parameter int LANES = 8,          // linear and Q.K^T: input elements per dot product per cycle
    parameter int ROWS = 2,           // linear: token rows per cycle
    parameter int COLS = 8,           // linear: output columns per cycle
    parameter int QK_KEYS = 8,        // Q.K^T: keys per cycle (a power of two, >= 2)
    parameter int AV_KEYS = 8,        // A.V: keys per cycle, eight channels each (a power of two)
    parameter int EXP_LANES = 8,      // softmax: exponentials per cycle
    parameter int EXT_LINEAR = 0,     // 1: use the lin_* port instead of a private linear
    parameter int MAX_N = 64,
    parameter int MAX_D = 128,
    parameter int MAX_HEADS = 8,
    parameter int MAX_DH = 64,        // ToMe's unit keys: head width (<= MAX_D)
    parameter int UK_LANES = 4,       // ToMe's unit keys: elements per cycle (divides BEAT / 16)
    parameter int BEAT = 64           // stream beat bits (head_dim a multiple of BEAT / 8)
) (
    // the linear engine's port, used when EXT_LINEAR = 1: sievit_top shares one array
    // between attention and mlp. Outputs are 0 and inputs ignored otherwise
    output logic [15:0]                      lin_n_in,
    output logic [15:0]                      lin_n_out,
    output logic [15:0]                      lin_n_rows,
    output logic [31:0]                      lin_w_addr,
    output logic [31:0]                      lin_b_addr,
    output logic [1:0]                       lin_epi,
    output logic signed [7:0]                lin_frac_acc,
    output logic signed [7:0]                lin_frac_out,
    output logic signed [7:0]                lin_frac_gelu_in,
    output logic signed [7:0]                lin_frac_res,
    output logic [BEAT-1:0] lin_s_tdata,
    output logic                             lin_s_tvalid,
    input  logic                             lin_s_tready,
    input  logic [BEAT-1:0] lin_m_tdata,
    input  logic                             lin_m_tvalid,
    output logic                             lin_m_tready,
    input  logic                             lin_m_tlast,
    input  logic [31:0]                      lin_mac_cycles,
    input  logic                             clk,
    input  logic                             rst_n,
    input  logic [15:0]                      n,
    input  logic [15:0]                      dim,
    input  logic [15:0]                      heads,
    input  logic [15:0]                      head_dim,     // multiple of 8
    input  logic [2:0]                       score_out,    // 0 none, 1 EViT, 2 CP-ViT, 3 ToMe, 4 PPT, 5 sizes (above)
    input  logic                             head_reset,
    input  logic                             head_track,
    input  logic [7:0]                       head_select,
    input  logic                             head_apply,
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
    input  logic [BEAT-1:0] mem_rsp_data,
    input  logic [BEAT-1:0] s_axis_tdata,
    input  logic                             s_axis_tvalid,
    output logic                             s_axis_tready,
    input  logic                             s_axis_tlast,
    output logic [BEAT-1:0] m_axis_tdata,
    output logic                             m_axis_tvalid,
    input  logic                             m_axis_tready,
    output logic                             m_axis_tlast
);
  import sievit_pkg::*;
  localparam int B8 = BEAT / 8;         // int8 elements per beat

  localparam int CW = 20;
  localparam int RB = MAX_D / B8;        // beats per row (max)
  localparam int WB = MAX_N * RB;                 // beats per tensor (max)
  localparam int BI = $clog2(WB);
  localparam int WPC = LANES / B8;       // words per Q.K^T step
  localparam int KG = (MAX_N + QK_KEYS - 1) / QK_KEYS;   // key blocks of Q.K^T
  localparam int VG = (MAX_N + AV_KEYS - 1) / AV_KEYS;   // key blocks of A.V
  localparam int KI = $clog2(KG * RB);
  localparam int VI = $clog2(VG * RB);
  localparam int LQ = $clog2(QK_KEYS);
  localparam int LV = $clog2(AV_KEYS);
  localparam int KGI = $clog2(KG > 1 ? KG : 2);
  localparam int VGI = $clog2(VG > 1 ? VG : 2);

  typedef enum logic [3:0] {
    IN_H, IN_X, IN_S, LIN, ATT, PROJ_IN, PROJ_OUT, SCORE_OUT, UK_OUT, PS_OUT
  } state_t;
  // IN_H: the h rows into h_buf and straight into the linear engine for Q; IN_X, IN_S: the
  // residual rows (and CP-ViT's scores) while Q computes; LIN: h_buf into the linear engine
  // for K and V. Q's, K's and V's output rows (proj_sel) are collected as they come, from
  // IN_H to the end of LIN; PROJ_IN: per row, its attention words and then its residual words into the
  // projection while its output rows stream out; PROJ_OUT: the rest of them
  state_t state;
  // ATT: three units walk the (head, query) jobs one after another, each on its own job, so
  // that query t + 1's Q.K^T runs while query t's softmax and query t - 1's A.V do:
  //   Q.K^T (q_*) writes a query's logits and feeds them to the softmax; it starts the next
  //     job once the softmax has taken the last block (one logit buffer);
  //   the collector (c_*) takes the softmax's probabilities into prob bank c_bank (score
  //     sources, CP-ViT's max and head mass on the way) and marks the bank full;
  //   A.V (a_*) runs on a full bank and frees it when the query's words are written.
  typedef enum logic [1:0] {Q_RUN, Q_FEED, Q_END} qk_state_t;
  qk_state_t q_st;

  logic [BEAT-1:0] h_buf[WB], x_buf[WB], q_buf[WB], a_buf[WB];
  logic [BEAT-1:0] k_mem[QK_KEYS][KG * RB];   // key j, word w: bank j % QK_KEYS
  logic [BEAT-1:0] v_mem[AV_KEYS][VG * RB];   // key j, word w: bank j % AV_KEYS
  logic signed [31:0] logit[QK_KEYS][KG];           // key j: bank j % QK_KEYS
  logic [7:0] prob[2][AV_KEYS][VG];                 // query bank, key j: bank j % AV_KEYS
  localparam int NSZ = 1 << $clog2(MAX_N);
  localparam int NI = $clog2(NSZ);
  localparam int HW = $clog2(MAX_HEADS);
  logic [31:0] sc_acc[NSZ];             // score source per key (score_out 1 / 2)
  logic [7:0] mx[NSZ];                  // max_i A_h[i, j] over the queries so far (head hd)
  logic [31:0] head_acc[MAX_HEADS];     // CP-ViT head mass
  logic [MAX_HEADS-1:0] hpruned;        // CP-ViT: pruned heads (used with head_apply)
  logic [CW-1:0] pa_col, pa_hw;         // projection feed: word within the row / the head
  logic [HW-1:0] pa_head;
  logic [1:0] proj_sel;                 // which projection runs on the linear engine (0 q, 1 k, 2 v)
  logic [CW-1:0] fbeat, lrow, lcol, lbeat;  // Q/K/V: words fed; row, word, count collected
  logic [CW-1:0] beat;
  logic lf_done;                            // every word of this GEMM is fed
  logic [CW-1:0] xbeat, px_col;             // PROJ_IN: residual word, word within its row
  logic pp_x;                               // PROJ_IN: the residual words are next
  logic [CW-1:0] q_t, q_hd, q_jb, q_kk, f_beat;   // Q.K^T's job, block, k-step; blocks fed
  logic [CW-1:0] c_t, c_hd, c_beat;               // the collector's job and beat
  logic [CW-1:0] a_t, a_hd, a_jb, a_cw;           // A.V's job, key block, word
  logic c_bank, a_bank, c_end;
  logic [1:0] pf;                                  // prob banks full
  logic signed [31:0] acc_qk[QK_KEYS];
  logic signed [31:0] acc_av[B8];
  // ToMe (score_out 3): the keys' ln(size) bias, banked like the logits; kbar = sum_h K_h per
  // row (B8 int16 lanes a word); the unit keys (BEAT / 16 int16 a word)
  localparam int UH = B8 / 2;                       // int16 per unit-key word
  localparam int KBW = (MAX_DH + B8 - 1) / B8;      // kbar words per row
  localparam int UBW = 2 * KBW;                     // unit-key words per row
  localparam int KBI = $clog2(NSZ * KBW);
  localparam int UBI = $clog2(NSZ * UBW);
  wire ukeys = (score_out == 3'd3) || (score_out == 3'd4);   // unit keys to U
  wire prop = ukeys || (score_out == 3'd5);                  // sizes in, ln(size) on the logits
  wire ppt = (score_out == 3'd4);
  wire cls_sum = (score_out == 3'd1) || ppt;                 // sum_h A_h[0, j] into sc_acc
  logic signed [31:0] kbias[QK_KEYS][KG];
  logic [16*B8-1:0] kb_mem[NSZ * KBW];
  logic [BEAT-1:0] u_buf[NSZ * UBW];
  logic [CW-1:0] kw;                        // K collection: the word within its head

  wire [CW-1:0] row_beats = CW'(dim / 16'(B8));
  wire [CW-1:0] tensor_beats = CW'(n) * row_beats;
  wire [CW-1:0] hd_steps = CW'(head_dim / 16'(LANES));
  wire [CW-1:0] blk_beats = CW'((32'(n) + QK_KEYS - 1) / QK_KEYS);  // logit beats to the softmax
  wire [CW-1:0] prob_beats = CW'((32'(n) + B8 - 1) / B8);
  wire [CW-1:0] hd_words = CW'(head_dim / 16'(B8));
  wire [CW-1:0] q_w0 = q_hd * hd_words;     // the first word of Q.K^T's head
  wire [CW-1:0] a_w0 = a_hd * hd_words;     // and of A.V's

  // ---- engines
  logic [BEAT-1:0] l_s_tdata, l_m_tdata, sm_m_tdata;
  logic [32*QK_KEYS-1:0] sm_s_tdata;   // one block of QK_KEYS logits per beat
  logic l_s_tvalid, l_s_tready, l_m_tvalid, l_m_tready, l_m_tlast;
  logic sm_s_tvalid, sm_s_tready, sm_m_tvalid, sm_m_tready, sm_m_tlast;
  logic [31:0] l_mac;
  wire proj = (state == PROJ_IN) || (state == PROJ_OUT);
  wire [1:0] sel = proj ? 2'd3 : proj_sel;

  wire [15:0] l_n_in = dim;
  wire [15:0] l_n_out = dim;
  wire [31:0] l_w_addr = w_addr[sel];
  wire [31:0] l_b_addr = b_addr[sel];
  wire [1:0] l_epi = proj ? 2'(EPI_RESIDUAL) : 2'(EPI_REQUANT);
  wire signed [7:0] l_frac_acc = frac_acc[sel];
  wire signed [7:0] l_frac_out = frac_out[sel];
  wire signed [7:0] l_frac_gelu_in = 8'sd0;
  wire signed [7:0] l_frac_res = frac_res;
  // the linear engine: inside, or (EXT_LINEAR = 1) the top's shared array behind lin_*
  if (EXT_LINEAR != 0) begin : g_ext_linear
    assign lin_n_in = l_n_in;
    assign lin_n_out = l_n_out;
    assign lin_n_rows = n;
    assign lin_w_addr = l_w_addr;
    assign lin_b_addr = l_b_addr;
    assign lin_epi = l_epi;
    assign lin_frac_acc = l_frac_acc;
    assign lin_frac_out = l_frac_out;
    assign lin_frac_gelu_in = l_frac_gelu_in;
    assign lin_frac_res = l_frac_res;
    assign lin_s_tdata = l_s_tdata;
    assign lin_s_tvalid = l_s_tvalid;
    assign l_s_tready = lin_s_tready;
    assign l_m_tdata = lin_m_tdata;
    assign l_m_tvalid = lin_m_tvalid;
    assign lin_m_tready = l_m_tready;
    assign l_m_tlast = lin_m_tlast;
    assign l_mac = lin_mac_cycles;
    assign mem_req_valid = 1'b0;
    assign mem_req_addr = '0;
    assign mem_req_beats = '0;
    assign mem_rsp_ready = 1'b0;
    logic unused_mem;
    assign unused_mem = ^{mem_req_ready, mem_rsp_valid, mem_rsp_data};
  end else begin : g_int_linear
    linear #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .MAX_N(MAX_N), .MAX_IN(MAX_D),
              .MAX_OUT(MAX_D), .BEAT(BEAT)) u_linear (
        .clk, .rst_n,
        .n_in(l_n_in), .n_out(l_n_out), .n_rows(n),
        .w_addr(l_w_addr), .b_addr(l_b_addr), .wl_start(1'b0), .wl_addr(32'd0), .epi(l_epi),
        .frac_acc(l_frac_acc), .frac_out(l_frac_out), .frac_gelu_in(l_frac_gelu_in),
        .frac_res(l_frac_res),
        .mem_req_valid, .mem_req_ready, .mem_req_addr, .mem_req_beats,
        .mem_rsp_valid, .mem_rsp_ready, .mem_rsp_data,
        .s_axis_tdata(l_s_tdata), .s_axis_tvalid(l_s_tvalid), .s_axis_tready(l_s_tready),
        .s_axis_tlast(1'b0),
        .m_axis_tdata(l_m_tdata), .m_axis_tvalid(l_m_tvalid), .m_axis_tready(l_m_tready),
        .m_axis_tlast(l_m_tlast), .mac_cycles(l_mac));
    assign {lin_n_in, lin_n_out, lin_n_rows, lin_w_addr, lin_b_addr, lin_epi} = '0;
    assign {lin_frac_acc, lin_frac_out, lin_frac_gelu_in, lin_frac_res} = '0;
    assign {lin_s_tdata, lin_s_tvalid, lin_m_tready} = '0;
    logic unused_lin;
    assign unused_lin = ^{lin_s_tready, lin_m_tdata, lin_m_tvalid, lin_m_tlast, lin_mac_cycles};
  end

  softmax #(.MAX_N(MAX_N), .EXP_LANES(EXP_LANES), .IN_LANES(QK_KEYS), .BEAT(BEAT)) u_softmax (
      .clk, .rst_n, .n(n), .frac(frac_s),
      .s_axis_tdata(sm_s_tdata), .s_axis_tvalid(sm_s_tvalid), .s_axis_tready(sm_s_tready),
      .s_axis_tlast(1'b0),
      .m_axis_tdata(sm_m_tdata), .m_axis_tvalid(sm_m_tvalid), .m_axis_tready(sm_m_tready),
      .m_axis_tlast(sm_m_tlast));

  // ---- datapath
  // Q.K^T: QK_KEYS keys of block q_jb against query q_t, LANES channels (step q_kk) of head q_hd
  logic signed [31:0] qk[QK_KEYS];
  always_comb begin
    for (int i = 0; i < QK_KEYS; i++) qk[i] = '0;
    for (int wj = 0; wj < WPC; wj++) begin
      logic [BEAT-1:0] qw;
      qw = q_buf[BI'(q_t * row_beats + q_w0 + q_kk * CW'(WPC) + CW'(wj))];
      // key pairs share each query value: one packed multiply per pair
      for (int i = 0; i < QK_KEYS; i += 2) begin
        logic [BEAT-1:0] kw0, kw1;
        kw0 = k_mem[i][KI'(q_jb * CW'(RB) + q_w0 + q_kk * CW'(WPC) + CW'(wj))];
        kw1 = k_mem[i + 1][KI'(q_jb * CW'(RB) + q_w0 + q_kk * CW'(WPC) + CW'(wj))];
        for (int l = 0; l < B8; l++) begin
          logic signed [34:0] prod;
          prod = pack_mul2($signed(kw0[8*l+:8]), $signed(kw1[8*l+:8]), 9'($signed(qw[8*l+:8])));
          qk[i] = qk[i] + pack_lo(prod[17:0]);
          qk[i + 1] = qk[i + 1] + pack_hi(prod[34:17]);
        end
      end
    end
  end
  // A.V: AV_KEYS keys of block a_jb, the BEAT / 8 channels of word a_cw of head a_hd
  logic signed [31:0] av[B8];
  always_comb begin
    for (int ch = 0; ch < B8; ch++) av[ch] = '0;
    for (int i = 0; i < AV_KEYS; i++) begin
      logic [BEAT-1:0] vw;
      logic [7:0] p;
      vw = v_mem[i][VI'(a_jb * CW'(RB) + a_w0 + a_cw)];
      p = ((a_jb << LV) + CW'(i) < CW'(n)) ? prob[a_bank][i][VGI'(a_jb)] : 8'd0;
      // channel pairs share the probability: one packed multiply per pair
      for (int ch = 0; ch < B8; ch += 2) begin
        logic signed [34:0] prod;
        prod = pack_mul2($signed(vw[8*ch+:8]), $signed(vw[8*ch+8+:8]), $signed({1'b0, p}));
        av[ch] = av[ch] + pack_lo(prod[17:0]);
        av[ch + 1] = av[ch + 1] + pack_hi(prod[34:17]);
      end
    end
  end
  logic [BEAT-1:0] av_word;   // the requantized channels of word a_cw
  always_comb begin
    for (int ch = 0; ch < B8; ch++)
      av_word[8*ch+:8] = requant(64'(acc_av[ch] + av[ch]), 8 + 32'(frac_v), 32'(frac_attn_out));
  end
  wire [BEAT-1:0] a_word = a_buf[BI'(beat)];
  wire qk_last_blk = ((q_jb + 1'b1) << LQ) >= CW'(n);
  wire av_last_blk = ((a_jb + 1'b1) << LV) >= CW'(n);

  assign s_axis_tready = (state == IN_H) ? l_s_tready : ((state == IN_X) || (state == IN_S));
  wire collect = (state == IN_H) || (state == IN_X) || (state == IN_S) || (state == LIN);
  always_comb begin
    l_s_tdata = '0;
    l_s_tvalid = 1'b0;
    unique case (state)
      IN_H: begin
        l_s_tdata = s_axis_tdata;
        l_s_tvalid = s_axis_tvalid;
      end
      LIN: begin
        l_s_tdata = h_buf[BI'(fbeat)];
        l_s_tvalid = !lf_done;
      end
      PROJ_IN: begin
        l_s_tdata = pp_x ? x_buf[BI'(xbeat)] : (pa_masked ? '0 : a_word);   // a pruned head's channels are 0
        l_s_tvalid = 1'b1;
      end
      default: ;
    endcase
  end
  assign l_m_tready = collect || (proj && m_axis_tready);
  wire [CW-1:0] sc_beats = CW'((32'(n) + 1) / 2);
  logic [BEAT-1:0] sc_word;
  always_comb begin
    sc_word = '0;
    for (int l = 0; l < 2; l++)
      if (32'(beat) * 2 + l < 32'(n) && (beat != 0 || l != 0))   // CLS: 0
        sc_word[32*l+:32] = sc_acc[NI'(32'(beat) * 2 + l)];
  end
  wire v_in = collect && l_m_tvalid && proj_sel == 2'd2 && lbeat == tensor_beats - 1'b1;
  // PPT: sum_c v^2 of V's word lcol of row lrow, added to the row's earlier words
  localparam int VSW = 15 + $clog2(MAX_D);          // sum_c v^2 <= 2^14 MAX_D
  logic [VSW-1:0] vsq[NSZ];
  logic [11:0] vn[NSZ];                             // isqrt(sum_c v^2) <= 128 sqrt(MAX_D)
  logic [VSW-1:0] vsq_beat;
  always_comb begin
    vsq_beat = '0;
    for (int l = 0; l < B8; l++)
      vsq_beat = vsq_beat + VSW'(16'($signed(l_m_tdata[8*l+:8])) * 16'($signed(l_m_tdata[8*l+:8])));
  end
  // the v-norm unit, row by row once V is in: floor(sqrt(sum_c v^2)), one bit a cycle
  logic v_busy, v_done;
  logic [CW-1:0] v_row;
  logic [VSW-1:0] v_rem, v_root, v_bit;
  wire [VSW-1:0] v_trial = v_root + v_bit;
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      {v_busy, v_done} <= '0;
      {v_row, v_rem, v_root, v_bit} <= '0;
    end else if (v_in && ppt) begin
      {v_busy, v_done} <= 2'b10;
      v_row <= '0;
    end else if (v_busy) begin
      if (v_bit == '0) begin                        // load the row
        v_rem <= vsq[NI'(v_row)];
        v_root <= '0;
        v_bit <= VSW'(1) << (2 * ((VSW - 1) / 2));
      end else begin
        if (v_rem >= v_trial) begin
          v_rem <= v_rem - v_trial;
          v_root <= (v_root >> 1) + v_bit;
        end else v_root <= v_root >> 1;
        v_bit <= v_bit >> 2;
        if (v_bit == VSW'(1)) begin
          vn[NI'(v_row)] <= 12'((v_rem >= v_trial) ? (v_root >> 1) + v_bit : v_root >> 1);
          v_row <= v_row + 1'b1;
          if (v_row == CW'(n) - 1'b1) {v_busy, v_done} <= 2'b01;
        end
      end
    end
  end
  // PPT: the scores of rows 2 beat and 2 beat + 1 (CLS and rows past n: 0)
  logic [BEAT-1:0] ps_word;
  always_comb begin
    ps_word = '0;
    for (int l = 0; l < 2; l++)
      if (32'(beat) * 2 + l < 32'(n) && (beat != 0 || l != 0))
        ps_word[32*l+:32] = 32'(sc_acc[NI'(32'(beat) * 2 + l)][10:0]) * 32'(vn[NI'(32'(beat) * 2 + l)]);
  end
  assign m_axis_tdata = (state == SCORE_OUT) ? sc_word : (state == PS_OUT) ? ps_word :
                        (state == UK_OUT) ? u_buf[UBI'(uo_row * CW'(UBW) + uo_w)] : l_m_tdata;
  assign m_axis_tvalid = (proj && l_m_tvalid) || (state == SCORE_OUT) || (state == UK_OUT && u_done)
                         || (state == PS_OUT && v_done);
  assign m_axis_tlast = (proj && l_m_tlast && (score_out == 3'd0 || score_out == 3'd5)) ||
                        ((state == SCORE_OUT || state == PS_OUT) && beat == sc_beats - 1'b1) ||
                        ((state == UK_OUT) && !ppt && beat == uk_beats - 1'b1);

  // CP-ViT heads: active heads, the first one and the one after hd
  function automatic logic head_on(input logic [HW-1:0] h, input logic [MAX_HEADS-1:0] pr,
                                   input logic apply);
    head_on = !(apply && pr[h]);
  endfunction
  logic [CW-1:0] first_hd, q_nhd, c_nhd, a_nhd;   // the active head after each unit's head
  always_comb begin
    first_hd = CW'(heads);
    q_nhd = CW'(heads);
    c_nhd = CW'(heads);
    a_nhd = CW'(heads);
    for (int h = MAX_HEADS - 1; h >= 0; h--) begin
      if (h < 32'(heads) && head_on(HW'(h), hpruned, head_apply)) begin
        first_hd = CW'(h);
        if (CW'(h) > q_hd) q_nhd = CW'(h);
        if (CW'(h) > c_hd) c_nhd = CW'(h);
        if (CW'(h) > a_hd) a_nhd = CW'(h);
      end
    end
  end
  wire q_last_t = (q_t == CW'(n) - 1'b1);
  wire c_last_t = (c_t == CW'(n) - 1'b1);
  wire a_last_t = (a_t == CW'(n) - 1'b1);
  // rd.cpvit_head_mask: rank of each head by mass (ties: the lower head ranks first)
  logic [MAX_HEADS-1:0] sel_pruned;
  always_comb begin
    for (int h = 0; h < MAX_HEADS; h++) begin
      logic [7:0] rank;
      rank = '0;
      for (int g = 0; g < MAX_HEADS; g++)
        if (g < 32'(heads) && (head_acc[g] > head_acc[h] || (head_acc[g] == head_acc[h] && g < h)))
          rank = rank + 1'b1;
      sel_pruned[h] = (h < 32'(heads)) && (32'(rank) >= 32'(heads) - 32'(head_select));
    end
  end
  // the last query of a head: its max over queries per key (this beat's lanes) and their sum
  // over the live patches (the head's mass)
  logic [7:0] mx_new[B8];
  logic [31:0] mass_beat;
  always_comb begin
    mass_beat = '0;
    for (int l = 0; l < B8; l++) begin
      logic [7:0] p_l, m_l;
      logic [CW-1:0] j;
      j = c_beat * CW'(B8) + CW'(l);
      p_l = sm_m_tdata[8*l+:8];
      m_l = mx[NI'(j)];
      mx_new[l] = (c_t == 0 || p_l > m_l) ? p_l : m_l;
      if (j != 0 && j < CW'(n)) mass_beat = mass_beat + 32'(mx_new[l]);
    end
  end
  wire pa_masked = head_apply && hpruned[pa_head];

  // each block of QK_KEYS logits goes to the softmax as soon as Q.K^T has written it
  assign sm_s_tvalid = (state == ATT) &&
                       (((q_st == Q_RUN) && (f_beat < q_jb)) || (q_st == Q_FEED));
  always_comb begin
    for (int i = 0; i < QK_KEYS; i++)
      sm_s_tdata[32*i+:32] = ((f_beat << LQ) + CW'(i) < CW'(n)) ? logit[i][KGI'(f_beat)] : 32'sd0;
  end
  assign sm_m_tready = (state == ATT) && !c_end && !pf[c_bank];
  wire av_run = (state == ATT) && pf[a_bank];

  // ---- ToMe (score_out 3), PPT (4), proportional attention (3, 4, 5)
  // rd.size_bias: ln(size) at the logits' frac, round half to even
  function automatic logic signed [31:0] size_bias(input logic [31:0] size,
                                                   input logic signed [7:0] frac);
    size_bias = 32'(rshift_rne(64'(log_size(size > 32'd255 ? 8'd255 : size[7:0])),
                               32'(LOG_SIZE_FRAC) - 32'(frac)));
  endfunction
  // kbar: K's word kw of head lcol / hd_words of row lrow, added to the heads before it
  wire [KBI-1:0] kb_widx = KBI'(lrow * CW'(KBW) + kw);
  wire [16*B8-1:0] kb_old = kb_mem[kb_widx];
  logic [16*B8-1:0] kb_new;
  always_comb begin
    for (int l = 0; l < B8; l++)
      kb_new[16*l+:16] = ((lcol < hd_words) ? 16'sd0 : $signed(kb_old[16*l+:16])) +
                         16'($signed(l_m_tdata[8*l+:8]));
  end
  wire k_in = collect && l_m_tvalid && proj_sel == 2'd1 && lbeat == tensor_beats - 1'b1;
  wire [CW-1:0] u_words = 2 * hd_words;             // unit-key words per row
  wire [CW-1:0] uk_beats = CW'(n) * u_words;
  logic [CW-1:0] uo_row, uo_w;                      // UK_OUT: row and word
  // the unit-key unit, row by row once K is in: |kbar|^2 (UK_LANES squares a cycle), its
  // integer square root (one bit a cycle), m = ceil(2^33 / D) for D = 2 max(root, 1) (one
  // `udiv`), then UK_LANES elements a cycle: div_round(a, d) = floor(N / D), N = 2a + d,
  // a = kbar * 2^7, as (|N| * m) >> 33 (|N| + D - 1 for N < 0, negated). Exact: |N| < 2^19
  // and D <= 2^14 (|kbar| <= 8 * 128, head_dim <= 64), and floor(M m / 2^K) = floor(M / D)
  // whenever M D < 2^K, here 2^33
  typedef enum logic [2:0] {U_IDLE, U_SQ, U_ROOT, U_RECIP, U_DIV} u_state_t;
  u_state_t u_st;
  logic u_done;
  logic [CW-1:0] u_row, u_e;                        // row, element
  logic [27:0] u_sq, u_rem;
  logic [27:0] u_root;                              // (wider while the bits settle)
  logic [27:0] u_bit;
  logic [14:0] u_den;                               // D = 2 max(root, 1)
  logic [32:0] u_m;
  logic [BEAT-1:0] u_word;                          // the unit-key word being filled
  logic ud_start, ud_busy, ud_done;
  /* verilator lint_off UNUSEDSIGNAL */
  logic [35:0] ud_q;                                // m < 2^33
  /* verilator lint_on UNUSEDSIGNAL */
  udiv #(.W(36), .BITS(4)) u_udiv (.clk, .rst_n, .start(ud_start), .num(36'(36'd1 << 33) + 36'(u_den) - 36'd1),
                                   .den(36'(u_den)), .quot(ud_q), .busy(ud_busy), .done(ud_done));
  wire [16*B8-1:0] u_kw = kb_mem[KBI'(u_row * CW'(KBW) + u_e / CW'(B8))];
  logic signed [15:0] u_lane[UK_LANES];
  logic [27:0] u_sq_step;
  logic [BEAT-1:0] u_word_next;
  always_comb begin
    u_sq_step = '0;
    u_word_next = u_word;
    for (int l = 0; l < UK_LANES; l++) begin
      logic signed [15:0] kv;
      logic signed [19:0] nn;
      logic [18:0] mag;
      /* verilator lint_off UNUSEDSIGNAL */
      logic [51:0] prod;                            // bits below 33 dropped
      /* verilator lint_on UNUSEDSIGNAL */
      kv = $signed(u_kw[16*(32'(u_e % CW'(B8)) + l)+:16]);
      u_sq_step = u_sq_step + 28'(32'(kv) * 32'(kv));
      nn = 20'(kv) * 20'sd256 + 20'($signed({1'b0, u_den[14:1]}));   // 2a + d
      mag = nn[19] ? 19'(20'sd0 - nn) + 19'(u_den) - 19'd1 : 19'(nn);
      prod = 52'(mag) * 52'(u_m);
      u_lane[l] = nn[19] ? 16'sd0 - 16'(prod[51:33]) : 16'(prod[51:33]);
      u_word_next[16*(32'(u_e % CW'(UH)) + l)+:16] = u_lane[l];
    end
  end
  wire [27:0] u_trial = u_root + u_bit;
  assign ud_start = (u_st == U_RECIP) && u_den != 15'd0 && !ud_busy && !ud_done;
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      u_st <= U_IDLE;
      u_done <= 1'b0;
      {u_row, u_e, u_sq, u_rem, u_root, u_bit, u_den, u_m, u_word} <= '0;
    end else begin
      unique case (u_st)
        U_IDLE: if (k_in && ukeys) begin
          u_st <= U_SQ;
          u_done <= 1'b0;
          {u_row, u_e, u_sq} <= '0;
        end
        U_SQ: begin
          u_sq <= u_sq + u_sq_step;
          u_e <= u_e + CW'(UK_LANES);
          if (u_e + CW'(UK_LANES) >= CW'(head_dim)) begin
            u_st <= U_ROOT;
            u_e <= '0;
            u_rem <= u_sq + u_sq_step;
            u_root <= '0;
            u_bit <= 28'd1 << 26;
          end
        end
        U_ROOT: begin   // floor(sqrt): one result bit a cycle
          if (u_rem >= u_trial) begin
            u_rem <= u_rem - u_trial;
            u_root <= (u_root >> 1) + u_bit;
          end else u_root <= u_root >> 1;
          u_bit <= u_bit >> 2;
          if (u_bit == 28'd1) begin
            u_st <= U_RECIP;
            u_den <= 15'd0;   // set next cycle, once the root is final
          end
        end
        U_RECIP: begin
          if (u_den == 15'd0) u_den <= (u_root == 28'd0) ? 15'd2 : {u_root[13:0], 1'b0};
          if (ud_done) begin
            u_m <= ud_q[32:0];
            u_st <= U_DIV;
          end
        end
        U_DIV: begin
          u_e <= u_e + CW'(UK_LANES);
          if ((u_e + CW'(UK_LANES)) % CW'(UH) == 0) begin
            u_buf[UBI'(u_row * CW'(UBW) + u_e / CW'(UH))] <= u_word_next;
            u_word <= '0;
          end else u_word <= u_word_next;
          if (u_e + CW'(UK_LANES) >= CW'(head_dim)) begin
            u_e <= '0;
            u_sq <= '0;
            u_row <= u_row + 1'b1;
            if (u_row == CW'(n) - 1'b1) begin
              u_st <= U_IDLE;
              u_done <= 1'b1;
            end else u_st <= U_SQ;
          end
        end
        default: u_st <= U_IDLE;
      endcase
    end
  end

  wire lrow_end = (lcol == row_beats - 1'b1);
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= IN_H;
      beat <= '0;
      q_st <= Q_END;
      {q_t, q_hd, q_jb, q_kk, f_beat} <= '0;
      {c_t, c_hd, c_beat, c_bank, c_end} <= '0;
      {a_t, a_hd, a_jb, a_cw, a_bank} <= '0;
      pf <= '0;
      lrow <= '0;
      lcol <= '0;
      kw <= '0;
      {uo_row, uo_w} <= '0;
      {fbeat, lbeat, xbeat, px_col} <= '0;
      {lf_done, pp_x} <= '0;
      proj_sel <= '0;
      hpruned <= '0;
      pa_col <= '0;
      pa_hw <= '0;
      pa_head <= '0;
      for (int h = 0; h < MAX_HEADS; h++) head_acc[h] <= '0;
    end else begin
      if (state != PROJ_IN) begin
        pa_col <= '0;
        pa_hw <= '0;
        pa_head <= '0;
      end
      // Q's, K's and V's output rows, as they come
      if (collect && l_m_tvalid) begin
        unique case (proj_sel)
          2'd0: q_buf[BI'(lbeat)] <= l_m_tdata;
          2'd1: begin
            k_mem[32'(lrow) % QK_KEYS][KI'((lrow >> LQ) * CW'(RB) + lcol)] <= l_m_tdata;
            if (ukeys) kb_mem[kb_widx] <= kb_new;
          end
          default: begin
            v_mem[32'(lrow) % AV_KEYS][VI'((lrow >> LV) * CW'(RB) + lcol)] <= l_m_tdata;
            if (ppt) vsq[NI'(lrow)] <= ((lcol == '0) ? VSW'(0) : vsq[NI'(lrow)]) + vsq_beat;
          end
        endcase
        lcol <= lrow_end ? '0 : lcol + 1'b1;
        kw <= (lrow_end || kw == hd_words - 1'b1) ? '0 : kw + 1'b1;
        lrow <= lrow_end ? lrow + 1'b1 : lrow;
        lbeat <= lbeat + 1'b1;
        if (lbeat == tensor_beats - 1'b1) begin
          {lbeat, lrow, lcol, kw, fbeat, lf_done} <= '0;
          if (proj_sel == 2'd2) begin   // (in LIN: V is fed after the residual rows)
            state <= (first_hd < CW'(heads)) ? ATT : PROJ_IN;
            beat <= '0;
            {xbeat, px_col, pp_x} <= '0;
            q_st <= Q_RUN;
            {q_t, q_jb, q_kk, f_beat} <= '0;
            {c_t, c_beat, c_bank, c_end} <= '0;
            {a_t, a_jb, a_cw, a_bank} <= '0;
            {q_hd, c_hd, a_hd} <= {3{first_hd}};
            pf <= '0;
          end else proj_sel <= proj_sel + 1'b1;
        end
      end
      unique case (state)
        IN_H: if (s_axis_tvalid && l_s_tready) begin
          h_buf[BI'(beat)] <= s_axis_tdata;
          if (beat == tensor_beats - 1'b1) begin
            state <= IN_X;
            beat <= '0;
            lf_done <= 1'b1;   // Q's input is in
            if (head_reset) for (int h = 0; h < MAX_HEADS; h++) head_acc[h] <= '0;
          end else beat <= beat + 1'b1;
        end
        IN_X: if (s_axis_tvalid) begin
          x_buf[BI'(beat)] <= s_axis_tdata;
          beat <= (beat == tensor_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == tensor_beats - 1'b1) begin
            state <= (score_out == 3'd2 || prop) ? IN_S : LIN;   // CP-ViT's scores, sizes
            if (head_select != 0) hpruned <= sel_pruned;
            if (cls_sum) for (int j = 0; j < NSZ; j++) sc_acc[j] <= '0;
          end
        end
        IN_S: if (s_axis_tvalid) begin  // CP-ViT: the tokens' cumulative scores; else sizes
          for (int l = 0; l < 2; l++)
            if (32'(beat) * 2 + l < 32'(n)) begin
              if (prop) kbias[(32'(beat) * 2 + l) % QK_KEYS][KGI'((32'(beat) * 2 + l) >> LQ)] <=
                  size_bias(s_axis_tdata[32*l+:32], frac_s);
              else sc_acc[NI'(32'(beat) * 2 + l)] <= s_axis_tdata[32*l+:32];
            end
          beat <= (beat == sc_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == sc_beats - 1'b1) state <= LIN;
        end
        LIN: if (!lf_done && l_s_tready) begin
          fbeat <= (fbeat == tensor_beats - 1'b1) ? '0 : fbeat + 1'b1;
          if (fbeat == tensor_beats - 1'b1) lf_done <= 1'b1;
        end
        ATT: begin
          // Q.K^T: logits of query q_t, head q_hd, hd_steps cycles per block of QK_KEYS keys
          if (q_st == Q_RUN) begin
            if (q_kk == hd_steps - 1'b1) begin
              for (int i = 0; i < QK_KEYS; i++) begin
                if ((q_jb << LQ) + CW'(i) < CW'(n))
                  logit[i][KGI'(q_jb)] <= acc_qk[i] + qk[i] + (prop ? kbias[i][KGI'(q_jb)] : 32'sd0);
                acc_qk[i] <= '0;
              end
              q_kk <= '0;
              if (qk_last_blk) begin
                q_st <= Q_FEED;
                q_jb <= '0;
              end else q_jb <= q_jb + 1'b1;
            end else begin
              for (int i = 0; i < QK_KEYS; i++)
                acc_qk[i] <= ((q_kk == 0) ? 32'sd0 : acc_qk[i]) + qk[i];
              q_kk <= q_kk + 1'b1;
            end
          end
          if (sm_s_tvalid && sm_s_tready) begin
            if (q_st == Q_FEED && f_beat == blk_beats - 1'b1) begin  // the next job
              f_beat <= '0;
              q_t <= q_last_t ? '0 : q_t + 1'b1;
              if (q_last_t) q_hd <= q_nhd;
              q_st <= (q_last_t && q_nhd >= CW'(heads)) ? Q_END : Q_RUN;
            end else f_beat <= f_beat + 1'b1;
          end
          // the collector: probabilities of query c_t, head c_hd
          if (sm_m_tready && sm_m_tvalid) begin
            for (int l = 0; l < B8; l++) begin
              logic [CW-1:0] j;   // the key of lane l
              j = c_beat * CW'(B8) + CW'(l);
              if (j < CW'(n)) begin
                prob[c_bank][32'(j) % AV_KEYS][VGI'(j >> LV)] <= sm_m_tdata[8*l+:8];
                mx[NI'(j)] <= mx_new[l];
                // EViT: query 0's probabilities; CP-ViT: after the last query, the max
                if (cls_sum && c_t == 0)
                  sc_acc[NI'(j)] <= sc_acc[NI'(j)] + 32'(sm_m_tdata[8*l+:8]);
                else if (score_out == 3'd2 && c_last_t)
                  sc_acc[NI'(j)] <= sc_acc[NI'(j)] + 32'(mx_new[l]);
              end
            end
            if (head_track && c_last_t) head_acc[HW'(c_hd)] <= head_acc[HW'(c_hd)] + mass_beat;
            if (c_beat == prob_beats - 1'b1) begin  // the bank is full: the next job
              c_beat <= '0;
              pf[c_bank] <= 1'b1;
              c_bank <= ~c_bank;
              c_t <= c_last_t ? '0 : c_t + 1'b1;
              if (c_last_t) c_hd <= c_nhd;
              if (c_last_t && c_nhd >= CW'(heads)) c_end <= 1'b1;
            end else c_beat <= c_beat + 1'b1;
          end
          // A.V: word a_cw of query a_t, AV_KEYS keys per cycle
          if (av_run) begin
            if (av_last_blk) begin
              a_buf[BI'(a_t * row_beats + a_w0 + a_cw)] <= av_word;
              a_jb <= '0;
              if (a_cw == hd_words - 1'b1) begin  // the query is done: free its bank
                a_cw <= '0;
                pf[a_bank] <= 1'b0;
                a_bank <= ~a_bank;
                a_t <= a_last_t ? '0 : a_t + 1'b1;
                if (a_last_t) a_hd <= a_nhd;
                if (a_last_t && a_nhd >= CW'(heads)) begin
                  state <= PROJ_IN;
                  beat <= '0;
                  {xbeat, px_col, pp_x} <= '0;
                end
              end else a_cw <= a_cw + 1'b1;
            end else a_jb <= a_jb + 1'b1;
            for (int ch = 0; ch < B8; ch++)
              acc_av[ch] <= av_last_blk ? 32'sd0 : ((a_jb == 0) ? 32'sd0 : acc_av[ch]) + av[ch];
          end
        end
        PROJ_IN: if (l_s_tready) begin
          if (!pp_x) begin
            beat <= beat + 1'b1;
            // the head of the next word
            pa_col <= (pa_col == row_beats - 1'b1) ? '0 : pa_col + 1'b1;
            if (pa_col == row_beats - 1'b1 || pa_hw == hd_words - 1'b1) pa_hw <= '0;
            else pa_hw <= pa_hw + 1'b1;
            if (pa_col == row_beats - 1'b1) begin
              pa_head <= '0;
              pp_x <= 1'b1;
            end else if (pa_hw == hd_words - 1'b1) pa_head <= pa_head + 1'b1;
          end else begin
            xbeat <= xbeat + 1'b1;
            px_col <= (px_col == row_beats - 1'b1) ? '0 : px_col + 1'b1;
            if (px_col == row_beats - 1'b1) pp_x <= 1'b0;
            if (xbeat == tensor_beats - 1'b1) begin
              state <= PROJ_OUT;
              beat <= '0;
            end
          end
        end
        PROJ_OUT: if (m_axis_tready && l_m_tvalid && l_m_tlast) begin
          state <= ukeys ? UK_OUT : (score_out == 3'd1 || score_out == 3'd2) ? SCORE_OUT : IN_H;
          beat <= '0;
          proj_sel <= '0;
          lf_done <= 1'b0;
        end
        SCORE_OUT: if (m_axis_tready) begin
          beat <= (beat == sc_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == sc_beats - 1'b1) state <= IN_H;
        end
        UK_OUT: if (m_axis_tready && u_done) begin
          beat <= (beat == uk_beats - 1'b1) ? '0 : beat + 1'b1;
          uo_w <= (uo_w == u_words - 1'b1) ? '0 : uo_w + 1'b1;
          if (uo_w == u_words - 1'b1) uo_row <= uo_row + 1'b1;
          if (beat == uk_beats - 1'b1) begin
            state <= ppt ? PS_OUT : IN_H;
            {uo_w, uo_row} <= '0;
          end
        end
        PS_OUT: if (m_axis_tready && v_done) begin
          beat <= (beat == sc_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == sc_beats - 1'b1) state <= IN_H;
        end
        default: state <= IN_H;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ sm_m_tlast ^ (|l_mac);
endmodule
