// Engine `bipartite_merge`: ToMe's bipartite soft matching (quant/reduce.py bipartite_merge,
// merge_into weighted, compact; docs/numerics.md "ToMe").
//   Rows alternate A (even position > 0) / B (odd position); CLS (row 0) never merges. Every
//   A row takes the B row of largest sim = u_a . u_b (integer dot product of the unit keys;
//   ties to the lower row); the r_img = min(r, (n - 1) // 2) A rows of largest sim (ties: the
//   lower row) merge into their B rows: x_b = sat8(div_round(s_b x_b + sum s_a x_a,
//   s_b + sum s_a)), s_b += sum s_a. Merged A rows leave; the others keep their order and ids.
// PPT (ppt = 1; quant/reduce.py ppt_reduce, ppt_pool_mask, drop_topk): the scores s_j (int32
// pairs, after the unit keys; s < 2^SW) decide per image: with m = n - 1 candidates, S = sum s
// and Q = sum s^2 over rows 1..n-1, pool (the merge above) where S = 0 or
// (m Q - S^2) 2^40 < tau m^2 S^2 (exact, on one shift-and-add multiplier), else drop the r_img
// candidates of lowest score (keep the m - r_img highest; ties: the lower row is kept) and
// keep the others' rows, ids and sizes in order. The header's high word is r_img | pool << 16.
// Message layout (BEAT-bit beats, B8 = BEAT/8 int8 or B16 = BEAT/16 int16 a beat; at BEAT 64
// the 64-bit layout of the first version):
//   in : n rows of `dim` int8 (element e in byte e % B8 of the row's beat e / B8); ceil(n/2)
//        beats of ids (an int32 pair in the low 64 bits of each beat, upper bits ignored);
//        ceil(n/2) beats of sizes (likewise); n rows of unit keys, head_dim int16 each
//        (element c in bits [16(c % B16) +: 16] of the row's beat c / B16; |u| <= 128, so
//        only the low 9 bits are kept); PPT: ceil(n/2) beats of scores (like the ids)
//   out: {r_img | pool << 16, n_new} (hi, lo) in the low 64 bits; ceil(n_new/2) beats of the new sizes
//        (int32 pairs in the low 64 bits, pad and upper bits 0); n_new rows of `dim` int8 at
//        B8 a beat; ceil(n_new/2) beats of the new ids (likewise); TLAST on the last.
// Phases and cycles (no stalls): load (n dim/B8 + 2 ceil(n/2) + n head_dim/B16 beats);
// similarity: SIM_ROWS A rows (a group, banked by (A index - 1) mod SIM_ROWS) against the same
// B row, SIM_LANES products each a cycle, the argmax folded in (one pipeline stage,
// ceil(n_a/SIM_ROWS) n_b ceil(head_dim/SIM_LANES) + 1 cycles); ranking: one A row per cycle
// against all A rows in parallel (n_a cycles); merge: per destination 1 + sources cycles (all
// channels at once), one reciprocal on the `udiv` (W/8 + 2 cycles), then dim/B8 cycles that
// divide B8 channels each by a multiply and write them back; output beats.
// Contract beyond the golden one: n in 1..MAX_N, dim a multiple of B8 <= MAX_D, head_dim a
// multiple of B16 (and of 4) <= MAX_DH, and every destination's size sum (s_b + sum s_a) <
// 2^SIZE_W (the tokens of one image; 255 covers DeiT's 197 and the attention engine's
// log_size ROM). Build rules: BEAT in {64, 128, 256}, 8 * 2^clog2(MAX_D) >= BEAT,
// 2^clog2(MAX_DH) >= B16, SIM_LANES and SIM_ROWS powers of two, SIM_ROWS < 2^clog2(MAX_N+1)/2.
module bipartite_merge #(
    parameter int MAX_N = 64,
    parameter int MAX_D = 256,
    parameter int MAX_DH = 64,
    parameter int SIM_LANES = 8,  // u products per cycle: a power of two <= MAX_DH (lanes
                                  // past head_dim in the last chunk are masked)
    parameter int SIM_ROWS = 1,   // A rows compared against one B row per cycle (a power of
                                  // two): SIM_ROWS * SIM_LANES multipliers
    parameter int SIZE_W = 8,     // a destination's size sum is < 2^SIZE_W
    parameter int SW = 24,        // PPT: scores are < 2^SW
    parameter int BEAT = 64       // stream beat bits: 64, 128 or 256
) (
    input  logic                             clk,
    input  logic                             rst_n,
    input  logic [15:0]     n,         // live rows, CLS first, 1..MAX_N
    input  logic [15:0]     dim,       // multiple of BEAT/8, <= MAX_D
    input  logic [15:0]     head_dim,  // multiple of BEAT/16 and of 4, <= MAX_DH
    input  logic [15:0]     r,         // merges asked for
    input  logic            ppt,       // PPT: pool (merge) or prune, per image (above)
    input  logic [40:0]     tau,       // PPT: round(min(tau, 1) 2^40)
    input  logic [BEAT-1:0] s_axis_tdata,
    input  logic            s_axis_tvalid,
    output logic            s_axis_tready,
    input  logic            s_axis_tlast,
    output logic [BEAT-1:0] m_axis_tdata,
    output logic            m_axis_tvalid,
    input  logic            m_axis_tready,
    output logic            m_axis_tlast
);
  import sievit_pkg::*;

  localparam int NW = $clog2(MAX_N + 1);  // row position
  localparam int NSZ = 1 << NW;
  localparam int HW = NW - 1;             // A / B index = position / 2
  localparam int HSZ = 1 << HW;
  localparam int DW = $clog2(MAX_D);
  localparam int DSZ = 1 << DW;
  localparam int UW = 9;                  // unit-key element: |u| <= 128
  localparam int USZ = 1 << $clog2(MAX_DH);
  localparam int CHUNKS = (USZ + SIM_LANES - 1) / SIM_LANES;
  localparam int CHW = $clog2(CHUNKS + 1);
  localparam int SIMW = 2 * UW + $clog2(USZ) + 1;  // |sum of MAX_DH 9x9 products| < 2^(SIMW-1)
  localparam int CW = 20;
  // merge division, see M_SCALE
  localparam int NUMW = SIZE_W + 8;       // |sum w x| <= 128 (2^SIZE_W - 1) < 2^(SIZE_W+7)
  localparam int PW = SIZE_W + 8;         // the multiplied numerator P < 129 d < 2^(SIZE_W+8)
  localparam int K = 2 * SIZE_W + 8;      // 129 d^2 < 2^K for d < 2^SIZE_W
  localparam int DIVW = ((K + 2 + 7) / 8) * 8;  // udiv width (2^K + d - 1 < 2^(K+1))
  localparam int B8 = BEAT / 8;           // int8 a beat
  localparam int B16 = BEAT / 16;         // int16 a beat
  localparam int XSL = 8 * DSZ / BEAT;    // BEAT slices of a row word
  localparam int XSW = (XSL > 1) ? $clog2(XSL) : 1;
  localparam int USL = USZ / B16;         // BEAT-beat slices of a unit-key row
  localparam int USW = (USL > 1) ? $clog2(USL) : 1;
  localparam int SR = SIM_ROWS;
  localparam int ABD = (HSZ + SR - 1) / SR;  // depth of an A bank
  localparam int AW = (ABD > 1) ? $clog2(ABD) : 1;
  localparam int GW = AW + 1;             // A group index (0 .. ceil(n_a / SR) - 1)

  typedef enum logic [4:0] {
    LOAD_X, LOAD_ID, LOAD_SZ, LOAD_U, LOAD_S, P_SCAN, P_MUL, SIM, SIM_END, RANK, M_DST, M_SRC,
    M_RECIP, M_SCALE, OUT_HDR, OUT_SZ, OUT_X, OUT_ID
  } state_t;
  state_t state;

  // token rows, one memory word per row (RAM-mappable: one read and one 8-byte write a cycle)
  logic [8*DSZ-1:0] x[NSZ];
  logic signed [31:0] ids[NSZ];
  logic [31:0] size[NSZ];
  // unit keys: B (odd rows) in one memory, A (even rows > 0) in SR banks (A index a: bank
  // (a - 1) % SR, word (a - 1) / SR); one B row and one row of every A bank read a cycle
  logic [UW*USZ-1:0] ub[HSZ];
  logic [SR-1:0][UW*USZ-1:0] ua_rd;   // the current group's rows
  logic signed [SIMW-1:0] node[HSZ];  // per A row: its best similarity
  logic [HW-1:0] dst[HSZ];            // per A row: its best B row
  logic [HSZ-1:0] mrg;                // per A row: merges
  logic [NSZ-1:0] gone;               // per row: leaves (a merged A row, a dropped row)
  // PPT: scores, the rows the prune would drop, the variance test's sums and products
  logic [SW-1:0] score[NSZ];
  logic [NSZ-1:0] pgone;
  logic pool;
  logic [NW-1:0] kp;                  // P_SCAN: the candidate row
  logic [SW+NW-1:0] s_tot;            // S < 2^(SW+NW)
  logic [2*SW+NW-1:0] s_sq;           // Q
  logic [2:0] vstep;                  // P_MUL: which product (below)
  logic [127:0] va, mc, mp;           // m Q - S^2, multiplicand, product
  logic [63:0] ml;                    // multiplier (its bits go right)
  logic [HSZ-1:0] pend;               // per B row: a destination not merged yet
  logic [HSZ-1:0] smask;              // the current destination's sources not added yet
  logic signed [NUMW-1:0] num[DSZ];   // per channel: sum of size * x over the current group
  logic [31:0] den;                   // its size sum
  logic [HW-1:0] cj;                  // current destination (B index)
  logic [K:0] mrec;                   // ceil(2^K / d)

  logic [CW-1:0] beat;
  logic [NW-1:0] brow;                // row of the beat in LOAD_X / LOAD_U
  logic [CW-1:0] bcol;                // beat within the row (LOAD_X, LOAD_U, OUT_X, M_SCALE)
  logic [NW-1:0] sp;                  // output: source row of the current new row

  // similarity walk: A group ag (A rows ag SR + 1 .. ag SR + SR), B row bj (0..n_b-1), chunk ch
  logic [GW-1:0] ag;
  logic [HW-1:0] bj, ka;              // ka: the A row being ranked
  logic [CHW-1:0] ch;
  // pipeline stage: one chunk's dot product per row of the group
  logic p_valid, p_last_ch, p_last_b;
  logic [GW-1:0] p_g;
  logic [HW-1:0] p_b;
  logic signed [SIMW-1:0] p_dot[SR], acc[SR], best[SR];
  logic [HW-1:0] best_j[SR];

  wire [HW-1:0] n_a = HW'((n - 16'd1) >> 1);
  wire [NW-1:0] m_cand = NW'(n - 16'd1);
  wire [HW-1:0] n_b = HW'(n >> 1);
  wire [15:0] r_img = (r < 16'(n_a)) ? r : 16'(n_a);
  wire [15:0] n_new = n - r_img;
  wire [CW-1:0] row_beats = CW'(dim / 16'(B8));
  wire [CW-1:0] u_beats = CW'(head_dim / 16'(B16));
  wire [CW-1:0] x_beats = CW'(n) * row_beats;
  wire [CW-1:0] pair_beats = CW'((32'(n) + 1) / 2);
  wire [CW-1:0] uk_beats = CW'(n) * u_beats;
  wire [CW-1:0] new_pair_beats = CW'((32'(n_new) + 1) / 2);
  wire [CW-1:0] new_x_beats = CW'(n_new) * row_beats;
  wire [CHW-1:0] chunks = CHW'((32'(head_dim) + SIM_LANES - 1) / SIM_LANES);
  wire [GW-1:0] last_g = GW'((32'(n_a) + SR - 1) / SR - 1);  // n_a >= 1 in SIM

  // lowest set bit
  function automatic logic [HW-1:0] first(input logic [HSZ-1:0] m);
    first = '0;
    for (int i = HSZ - 1; i >= 0; i--) if (m[i]) first = HW'(i);
  endfunction

  // compaction: the first row after p that stays
  function automatic logic [NW-1:0] nxt(input logic [NW-1:0] p, input logic [NSZ-1:0] g);
    logic [NSZ-1:0] after;
    after = ~g & ~((NSZ'(2) << p) - NSZ'(1));
    nxt = '0;
    for (int i = NSZ - 1; i >= 0; i--) if (after[i]) nxt = NW'(i);
  endfunction

  // -- unit-key load: the beat's B16 elements into a B row or an A bank ---------------------
  logic [B16*UW-1:0] u_slice;
  always_comb for (int l = 0; l < B16; l++) u_slice[UW*l+:UW] = s_axis_tdata[16*l+:UW];
  wire u_we = (state == LOAD_U) && s_axis_tvalid;
  wire [HW-1:0] u_idx = brow[NW-1:1];           // A or B index of the row
  wire [HW-1:0] u_a1 = u_idx - HW'(1);          // A index - 1 (A rows only)
  wire [USW-1:0] u_sl = USW'(bcol);
  always_ff @(posedge clk)
    if (u_we && brow[0]) ub[u_idx][B16*UW*u_sl+:B16*UW] <= u_slice;
  for (genvar k = 0; k < SR; k++) begin : g_abank
    logic [UW*USZ-1:0] mem[ABD];
    always_ff @(posedge clk)
      if (u_we && !brow[0] && u_idx != '0 && 32'(u_a1) % SR == k)
        mem[AW'(32'(u_a1) / SR)][B16*UW*u_sl+:B16*UW] <= u_slice;
    assign ua_rd[k] = mem[AW'(ag)];
  end

  // -- similarity: chunk ch of the group's A rows against B row bj ---------------------------
  logic [UW*USZ-1:0] ub_row;
  logic signed [SIMW-1:0] dot[SR];
  always_comb begin
    ub_row = ub[bj];
    for (int k = 0; k < SR; k++) begin
      dot[k] = '0;
      for (int l = 0; l < SIM_LANES; l++) begin
        if (32'(ch) * SIM_LANES + l < 32'(head_dim))
          dot[k] = dot[k] + SIMW'($signed(ua_rd[k][UW * (32'(ch) * SIM_LANES + l) +: UW]))
                          * SIMW'($signed(ub_row[UW * (32'(ch) * SIM_LANES + l) +: UW]));
      end
    end
  end
  // the argmax as the dot products come (strictly greater: ties keep the lower B row)
  logic signed [SIMW-1:0] acc_sum[SR], best_new[SR];
  logic [HW-1:0] best_j_new[SR];
  always_comb begin
    for (int k = 0; k < SR; k++) begin
      acc_sum[k] = acc[k] + p_dot[k];
      best_new[k] = best[k];
      best_j_new[k] = best_j[k];
      if (p_b == '0 || acc_sum[k] > best[k]) begin
        best_new[k] = acc_sum[k];
        best_j_new[k] = p_b;
      end
    end
  end

  // -- ranking: A row ka against every A row (higher node, or equal and lower row, ranks first)
  logic [HW:0] rank;
  always_comb begin
    rank = '0;
    for (int q = 1; q < HSZ; q++) begin
      if (HW'(q) <= n_a && (node[q] > node[ka] || (node[q] == node[ka] && HW'(q) < ka)))
        rank = rank + 1'b1;
    end
  end
  wire merge_ka = 32'(rank) < 32'(r_img);

  // -- PPT: candidate kp against every candidate (higher score, or equal and lower row, ranks
  //    first); the prune keeps the m - r_img first
  logic [NW:0] prank;
  always_comb begin
    prank = '0;
    for (int q = 1; q < NSZ; q++) begin
      if (NW'(q) <= m_cand && (score[q] > score[kp] || (score[q] == score[kp] && NW'(q) < kp)))
        prank = prank + 1'b1;
    end
  end
  wire drop_kp = 32'(prank) >= 32'(m_cand) - 32'(r_img);
  wire [SW-1:0] s_kp = score[kp];
  wire [2*SW-1:0] s_kp_sq = (2*SW)'(s_kp) * (2*SW)'(s_kp);
  wire [2*SW+NW-1:0] s_sq_next = s_sq + ((kp <= m_cand) ? (2*SW+NW)'(s_kp_sq) : (2*SW+NW)'(0));

  // -- merge: the next destination, the next source ------------------------------------------
  wire [HW-1:0] dst_next = first(pend);
  wire [HW-1:0] src_next = first(smask);
  logic [HSZ-1:0] srcs_of;            // merging A rows whose destination is dst_next
  always_comb begin
    srcs_of = '0;
    for (int k = 1; k < HSZ; k++) srcs_of[k] = mrg[k] && dst[k] == dst_next;
  end

  // the one read of the row buffer
  logic [NW-1:0] x_ra;
  always_comb begin
    unique case (state)
      M_DST: x_ra = {dst_next, 1'b1};
      M_SRC: x_ra = {src_next, 1'b0};
      default: x_ra = sp;
    endcase
  end
  logic [8*DSZ-1:0] x_row;
  assign x_row = x[x_ra];
  wire [31:0] w_size = size[x_ra];
  wire [SIZE_W-1:0] w = w_size[SIZE_W-1:0];
  wire [31:0] den_src = den + w_size;

  // -- division of the merged channels: q = div_round(a, d) = floor((2a + d) / 2d)
  //    = floor(M / d), M = a + floor(d/2) (floor(floor(y/2)/d) = floor(y/2d)), d = max(den, 1).
  // One reciprocal per destination on the udiv, m = ceil(2^K / d) = (2^K + e) / d, 0 <= e < d;
  // then per channel, for P >= 0, floor(P / d) = (P m) >> K: write P = q d + rr (rr < d);
  // P m / 2^K = q + (rr + P e / 2^K) / d, and P e <= P (d - 1) < 2^K gives rr + P e / 2^K <
  // rr + 1 <= d, so the floor is q. P = M for M >= 0 and P = -M + d - 1 for M < 0
  // (floor(M / d) = -ceil(-M / d)). |a| <= 128 d (|x| <= 128, sizes sum to d), so
  // P <= max(127d + d/2, 128d - floor(d/2) + d - 1) < 129 d and P (d - 1) < 129 d^2 < 2^8 2^(2 SIZE_W)
  // = 2^K for d < 2^SIZE_W. B8 channels per cycle (B8 PW x (K+1) multipliers).
  wire [SIZE_W-1:0] dd = (den[SIZE_W-1:0] == '0) ? SIZE_W'(1) : den[SIZE_W-1:0];
  logic div_start, div_done, div_busy;
  logic [DIVW-1:0] div_num, div_den, div_q;
  udiv #(.W(DIVW), .BITS(8)) u_div (.clk, .rst_n, .start(div_start), .num(div_num),
                                    .den(div_den), .quot(div_q), .busy(div_busy),
                                    .done(div_done));
  logic [BEAT-1:0] q_word;
  always_comb begin
    for (int l = 0; l < B8; l++) begin
      logic signed [NUMW:0] mm;
      logic [PW-1:0] pp;
      logic [PW+K:0] prod;
      logic [PW:0] qq;
      mm = (NUMW + 1)'(num[l]) + (NUMW + 1)'({1'b0, dd >> 1});
      pp = mm[NUMW] ? PW'((NUMW + 1)'(0) - mm) + PW'(dd) - PW'(1) : PW'(mm);
      prod = (PW + K + 1)'(pp) * (PW + K + 1)'(mrec);
      qq = (PW + 1)'(prod >> K);
      q_word[8*l+:8] = sat8(mm[NUMW] ? 64'sd0 - 64'(qq) : 64'(qq));
    end
  end

  // -- the row buffer's write port: input beats, merged rows -------------------------------
  logic x_we;
  logic [NW-1:0] x_wa;
  logic [XSW-1:0] x_wc;               // BEAT slice
  logic [BEAT-1:0] x_wd;
  always_comb begin
    x_we = 1'b0;
    x_wa = brow;
    x_wc = XSW'(bcol);
    x_wd = s_axis_tdata;
    if (state == LOAD_X) x_we = s_axis_tvalid;
    else if (state == M_SCALE) begin
      x_we = 1'b1;
      x_wa = {cj, 1'b1};
      x_wd = q_word;
    end
  end
  always_ff @(posedge clk) if (x_we) x[x_wa][BEAT*x_wc+:BEAT] <= x_wd;

  // -- output words ------------------------------------------------------------------------
  wire [NW-1:0] sp2 = nxt(sp, gone);
  logic [BEAT-1:0] out_word;
  always_comb begin
    out_word = '0;
    unique case (state)
      OUT_HDR: out_word[63:0] = {15'd0, pool && ppt, r_img, 32'(n_new)};
      OUT_SZ, OUT_ID: for (int l = 0; l < 2; l++) begin
        if (32'(beat) * 2 + l < 32'(n_new))
          out_word[32*l+:32] = (state == OUT_SZ) ? size[(l == 0) ? sp : sp2]
                                                 : ids[(l == 0) ? sp : sp2];
      end
      OUT_X: out_word = x_row[BEAT*XSW'(bcol)+:BEAT];
      default: out_word = '0;
    endcase
  end

  assign s_axis_tready = (state == LOAD_X) || (state == LOAD_ID) || (state == LOAD_SZ)
                         || (state == LOAD_U) || (state == LOAD_S);
  assign m_axis_tvalid = (state == OUT_HDR) || (state == OUT_SZ) || (state == OUT_X)
                         || (state == OUT_ID);
  assign m_axis_tdata = out_word;
  assign m_axis_tlast = (state == OUT_ID) && (beat == new_pair_beats - 1'b1);

  wire [CW-1:0] cur_row_beats = (state == LOAD_U) ? u_beats : row_beats;
  wire row_end = (bcol == cur_row_beats - 1'b1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= LOAD_X;
      beat <= '0;
      brow <= '0;
      bcol <= '0;
      sp <= '0;
      ag <= '0;
      bj <= '0;
      ka <= '0;
      ch <= '0;
      cj <= '0;
      p_valid <= 1'b0;
      p_last_ch <= 1'b0;
      p_last_b <= 1'b0;
      p_g <= '0;
      p_b <= '0;
      for (int k = 0; k < SR; k++) begin
        p_dot[k] <= '0;
        acc[k] <= '0;
        best[k] <= '0;
        best_j[k] <= '0;
      end
      mrg <= '0;
      gone <= '0;
      pgone <= '0;
      pool <= 1'b0;
      kp <= '0;
      {s_tot, s_sq, vstep, va, mc, mp, ml} <= '0;
      pend <= '0;
      smask <= '0;
      den <= '0;
      mrec <= '0;
      div_start <= 1'b0;
      div_num <= '0;
      div_den <= '0;
    end else begin
      div_start <= 1'b0;
      // similarity pipeline, stage 2: accumulate, fold into the argmax
      p_valid <= 1'b0;
      if (p_valid) begin
        for (int k = 0; k < SR; k++) begin
          if (p_last_ch) begin
            acc[k] <= '0;
            best[k] <= best_new[k];
            best_j[k] <= best_j_new[k];
            // A row p_g SR + k + 1, if it exists
            if (p_last_b && 32'(p_g) * SR + k < 32'(n_a)) begin
              node[HW'(32'(p_g) * SR + k + 1)] <= best_new[k];
              dst[HW'(32'(p_g) * SR + k + 1)] <= best_j_new[k];
            end
          end else acc[k] <= acc_sum[k];
        end
      end
      unique case (state)
        LOAD_X, LOAD_U: if (s_axis_tvalid) begin  // (the unit-key writes: above)
          bcol <= row_end ? '0 : bcol + 1'b1;
          brow <= row_end ? brow + 1'b1 : brow;
          if (beat == ((state == LOAD_X) ? x_beats : uk_beats) - 1'b1) begin
            beat <= '0;
            brow <= '0;
            bcol <= '0;
            if (state == LOAD_X) state <= LOAD_ID;
            else if (ppt) state <= LOAD_S;
            else if (r_img == '0) state <= OUT_HDR;
            else begin
              state <= SIM;
              ag <= '0;
              bj <= '0;
              ch <= '0;
              for (int k = 0; k < SR; k++) acc[k] <= '0;
            end
          end else beat <= beat + 1'b1;
        end
        LOAD_ID, LOAD_SZ, LOAD_S: if (s_axis_tvalid) begin
          for (int l = 0; l < 2; l++) begin
            if (32'(beat) * 2 + l < 32'(n)) begin
              if (state == LOAD_ID) ids[NW'(32'(beat) * 2 + l)] <= s_axis_tdata[32*l+:32];
              else if (state == LOAD_SZ) size[NW'(32'(beat) * 2 + l)] <= s_axis_tdata[32*l+:32];
              else score[NW'(32'(beat) * 2 + l)] <= s_axis_tdata[32*l+:SW];
            end
          end
          if (beat == pair_beats - 1'b1) begin
            beat <= '0;
            state <= (state == LOAD_ID) ? LOAD_SZ : (state == LOAD_SZ) ? LOAD_U : P_SCAN;
            mrg <= '0;
            gone <= '0;
            pend <= '0;
            if (state == LOAD_S) begin
              pgone <= '0;
              kp <= NW'(1);
              s_tot <= '0;
              s_sq <= '0;
            end
          end else beat <= beat + 1'b1;
        end
        P_SCAN: begin  // one candidate a cycle: S, Q, and whether the prune drops it
          if (kp <= m_cand) begin
            s_tot <= s_tot + (SW+NW)'(s_kp);
            s_sq <= s_sq_next;
            if (drop_kp) pgone[kp] <= 1'b1;
          end
          if (kp >= m_cand) begin
            state <= P_MUL;
            vstep <= '0;
            mp <= '0;
            mc <= 128'(s_sq_next);   // m Q first
            ml <= 64'(m_cand);
          end
          kp <= kp + 1'b1;
        end
        P_MUL: begin  // shift and add: mp += mc while ml's bits go right
          if (ml != '0) begin
            if (ml[0]) mp <= mp + mc;
            mc <= mc << 1;
            ml <= ml >> 1;
          end else begin  // the product of step vstep is in mp
            vstep <= vstep + 1'b1;
            mp <= '0;
            unique case (vstep)
              3'd0: begin  // m Q; next S^2
                va <= mp;
                mc <= 128'(s_tot);
                ml <= 64'(s_tot);
              end
              3'd1: begin  // S^2: va = m Q - S^2; next m S^2
                va <= va - mp;
                mc <= mp;
                ml <= 64'(m_cand);
              end
              3'd2: begin  // m S^2; next m^2 S^2
                mc <= mp;
                ml <= 64'(m_cand);
              end
              3'd3: begin  // m^2 S^2; next tau m^2 S^2
                mc <= mp;
                ml <= 64'(tau);
              end
              default: begin  // tau m^2 S^2: the choice
                pool <= (s_tot == '0) || ((va << 40) < mp);
                if ((s_tot == '0) || ((va << 40) < mp)) begin
                  if (r_img == '0) state <= OUT_HDR;
                  else begin
                    state <= SIM;
                    ag <= '0;
                    bj <= '0;
                    ch <= '0;
                    for (int k = 0; k < SR; k++) acc[k] <= '0;
                  end
                end else begin
                  gone <= pgone;
                  state <= OUT_HDR;
                end
              end
            endcase
          end
        end
        SIM: begin  // stage 1: one chunk a cycle for every row of the group
          p_valid <= 1'b1;
          for (int k = 0; k < SR; k++) p_dot[k] <= dot[k];
          p_g <= ag;
          p_b <= bj;
          p_last_ch <= (ch == chunks - 1'b1);
          p_last_b <= (bj == n_b - 1'b1);
          if (ch != chunks - 1'b1) ch <= ch + 1'b1;
          else begin
            ch <= '0;
            if (bj != n_b - 1'b1) bj <= bj + 1'b1;
            else begin
              bj <= '0;
              if (ag == last_g) state <= SIM_END;
              else ag <= ag + 1'b1;
            end
          end
        end
        SIM_END: begin  // the last dot product leaves the pipeline
          ka <= HW'(1);
          state <= (r_img == 16'd0) ? OUT_HDR : RANK;
        end
        RANK: begin  // one A row a cycle
          if (merge_ka) begin
            mrg[ka] <= 1'b1;
            gone[{ka, 1'b0}] <= 1'b1;
            pend[dst[ka]] <= 1'b1;
          end
          if (ka == n_a) state <= M_DST;
          else ka <= ka + 1'b1;
        end
        M_DST: if (pend == '0) state <= OUT_HDR;
        else begin  // the destination's own row starts the sums
          cj <= dst_next;
          pend[dst_next] <= 1'b0;
          smask <= srcs_of;
          den <= w_size;
          for (int c = 0; c < DSZ; c++)
            num[c] <= NUMW'($signed(x_row[8*c+:8])) * NUMW'($signed({1'b0, w}));
          state <= M_SRC;
        end
        M_SRC: begin  // one source a cycle, all channels
          smask[src_next] <= 1'b0;
          den <= den_src;
          for (int c = 0; c < DSZ; c++)
            num[c] <= num[c] + NUMW'($signed(x_row[8*c+:8])) * NUMW'($signed({1'b0, w}));
          if ((smask & ~(HSZ'(1) << src_next)) == '0) begin
            div_start <= 1'b1;
            div_num <= (DIVW'(1) << K) + DIVW'((den_src[SIZE_W-1:0] == '0) ? SIZE_W'(1)
                                                : den_src[SIZE_W-1:0]) - DIVW'(1);
            div_den <= DIVW'((den_src[SIZE_W-1:0] == '0) ? SIZE_W'(1) : den_src[SIZE_W-1:0]);
            state <= M_RECIP;
          end
        end
        M_RECIP: if (div_done) begin
          mrec <= div_q[K:0];
          bcol <= '0;
          state <= M_SCALE;
        end
        M_SCALE: begin  // B8 channels a cycle (the write port above), num shifts down by B8
          for (int c = 0; c < DSZ; c++)
            num[c] <= (c + B8 < DSZ) ? num[(c + B8) % DSZ] : '0;
          if (bcol == row_beats - 1'b1) begin
            bcol <= '0;
            size[{cj, 1'b1}] <= den;
            state <= M_DST;
          end else bcol <= bcol + 1'b1;
        end
        OUT_HDR: if (m_axis_tready) begin
          state <= OUT_SZ;
          beat <= '0;
          sp <= '0;
        end
        OUT_SZ, OUT_ID: if (m_axis_tready) begin
          sp <= nxt(sp2, gone);
          if (beat == new_pair_beats - 1'b1) begin
            beat <= '0;
            sp <= '0;
            bcol <= '0;
            state <= (state == OUT_SZ) ? OUT_X : LOAD_X;
          end else beat <= beat + 1'b1;
        end
        OUT_X: if (m_axis_tready) begin
          bcol <= row_end ? '0 : bcol + 1'b1;
          if (row_end) sp <= sp2;
          if (beat == new_x_beats - 1'b1) begin
            state <= OUT_ID;
            beat <= '0;
            sp <= '0;
            bcol <= '0;
          end else beat <= beat + 1'b1;
        end
        default: state <= LOAD_X;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ div_busy ^ (^div_q);
endmodule
