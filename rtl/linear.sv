// Engine `linear`: int8 x int8 -> int32 GEMM of n_rows token rows on a 2-D MAC array of
// ROWS token rows x COLS output columns x LANES input elements per cycle, bias, and the fused
// write-back (requantize / GELU / residual, or raw int32 accumulators).
//
// Schedule: the array walks row groups (ROWS rows) outermost, then column groups (COLS
// outputs), then k-steps (LANES inputs), so each row group's output streams out while the
// array computes the next ones, and the next GEMM's input can follow at once. A row group
// starts once its x rows have arrived, a column group once its weight rows have. A finished
// column group's ROWS x COLS accumulators move to a hold register and are written back one
// row per cycle (COLS epilogue units) while the array goes on; finished row groups land in
// one of two output banks, which stream out while the array fills the other.
//
// Weights: with PREFETCH = 0 the biases and weights load through the burst read port when a
// tensor starts (from w_addr / b_addr). With PREFETCH = 1 the engine walks a weight list in
// memory (wl_start at wl_addr; one entry per GEMM in call order: w_addr, b_addr,
// n_in | n_out << 16, 0, ended by n_out = 0) and loads each GEMM's biases and weights into
// one of two buffers as soon as the GEMM two before it has finished computing, so a GEMM's
// weights stream in while the engines before it run. The weight bursts are at most W_CHUNK
// beats, so that the other engines sharing the port wait at most one chunk.
//
// DSP packing: two token rows share every weight, so each pair of int8 products
// (x[2p] * w, x[2p+1] * w) is one 27x8-bit multiply of the packed operand
// (x[2p+1] << 18) + x[2p] (AMD WP486): one DSP48E2 for two MACs. The low 18 bits of the product
// are the signed x[2p] * w, the rest, after subtracting it, x[2p+1] * w: exact, so packing
// changes no bit.
//
// Message layout (engine stream protocol): in = per row, its x (n_in int8) and then, for the
// residual epilogue only, its residual row (n_out int8); out = n_rows rows of n_out int8, or
// n_rows*n_out int32 (2 per beat) for EPI_RAW.
module linear
#(
    parameter int LANES = 8,        // input elements per dot product per cycle: 8, 16, 32, ...
    parameter int ROWS = 2,         // token rows per cycle: 1, 2, 4, ... (pairs share a DSP)
    parameter int COLS = 8,         // output columns per cycle: 8, 16, 32, ...
    parameter int MAX_N = 64,       // token rows
    parameter int MAX_IN = 256,     // input width (multiple of LANES)
    parameter int MAX_OUT = 320,    // output width
    parameter int BEAT = 64,        // stream and memory beat bits: 64, 128, 256 (<= 8 * LANES)
    parameter int PREFETCH = 0,     // 1: weights from the weight list, two buffers (above)
    parameter int W_DEPTH = 0,      // weight words per bank and buffer (0: the MAX_OUT x MAX_IN bound)
    parameter int W_CHUNK = 1024    // most beats per weight burst
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic [15:0]          n_in,
    input  logic [15:0]          n_out,
    input  logic [15:0]          n_rows,
    input  logic [31:0]          w_addr,        // byte addresses, 8-byte aligned (PREFETCH = 0)
    input  logic [31:0]          b_addr,
    input  logic                 wl_start,      // PREFETCH = 1: walk the weight list at wl_addr
    input  logic [31:0]          wl_addr,
    input  logic [1:0]           epi,
    input  logic signed [7:0]    frac_acc,
    input  logic signed [7:0]    frac_out,
    input  logic signed [7:0]    frac_gelu_in,
    input  logic signed [7:0]    frac_res,
    output logic                 mem_req_valid,
    input  logic                 mem_req_ready,
    output logic [31:0]          mem_req_addr,
    output logic [15:0]          mem_req_beats,
    input  logic                 mem_rsp_valid,
    output logic                 mem_rsp_ready,
    input  logic [BEAT-1:0] mem_rsp_data,
    input  logic [BEAT-1:0] s_axis_tdata,
    input  logic                 s_axis_tvalid,
    output logic                 s_axis_tready,
    input  logic                 s_axis_tlast,
    output logic [BEAT-1:0] m_axis_tdata,
    output logic                 m_axis_tvalid,
    input  logic                 m_axis_tready,
    output logic                 m_axis_tlast,
    output logic [31:0]          mac_cycles      // cycles the MAC array did useful work
);
  import sievit_pkg::*;
  localparam int B8 = BEAT / 8;                 // int8 elements per beat
  localparam int B32 = BEAT / 32;               // int32 elements per beat

  localparam int CW = 24;                       // counters
  localparam int WPC = LANES / B8;     // words per row and k-step
  localparam int XS = MAX_IN / B8;     // words per input row (max)
  localparam int XD = (XS + WPC - 1) / WPC;     // k-steps per row (max)
  localparam int NG = (MAX_N + ROWS - 1) / ROWS;      // row groups (max)
  localparam int OG = (MAX_OUT + COLS - 1) / COLS;    // column groups (max)
  localparam int CB = COLS / B8;       // int8 words per row and column group
  localparam int AB = COLS / B32;      // int32 words per row and column group
  localparam int PAIRS = ROWS / 2;
  localparam int RI = $clog2(ROWS > 1 ? ROWS : 2);     // write-back row counter width
  localparam int LR = $clog2(ROWS);                    // shifts: every size is a power of two
  localparam int LW = $clog2(WPC);
  localparam int LCB = $clog2(CB);
  localparam int LL = $clog2(LANES);
  localparam int YD = 2 * ROWS * OG;                   // output words: two row-group banks
  localparam int YI = $clog2(YD);                      // output address width
  localparam int NBUF = (PREFETCH != 0) ? 2 : 1;       // weight (and bias) buffers
  localparam int WD = (W_DEPTH > 0) ? W_DEPTH : OG * XD;   // weight words per bank and buffer
  localparam int WI = $clog2(NBUF * WD);
  localparam int BI = $clog2(NBUF * OG > 1 ? NBUF * OG : 2);
  localparam int EB = (B8 >= 16) ? 1 : 16 / B8;        // beats per weight-list entry
  localparam int ES = EB * B8;                         // bytes per entry

  // ---- buffers, banked so that every bank sees one read and one write per cycle
  logic [BEAT-1:0] x_mem[ROWS * WPC][NG * XD];    // bank (row % ROWS, word % WPC)
  logic [BEAT-1:0] w_mem[COLS * WPC][NBUF * WD];  // bank (out % COLS, word % WPC)
  logic signed [31:0] b_mem[COLS][NBUF * OG];     // bank out % COLS
  logic [BEAT-1:0] r_mem[CB][NG * ROWS * OG];     // residual rows, bank word % CB
  logic [BEAT-1:0] y_mem[CB][YD];      // int8 output banks, bank word % CB
  logic [BEAT-1:0] a_mem[AB][YD];      // int32 output banks, bank word % AB

  wire raw = (epi == 2'(EPI_RAW));
  wire res = (epi == 2'(EPI_RESIDUAL));
  wire [15:0] in_words = n_in / 16'(B8);
  wire [15:0] row_beats8 = n_out / 16'(B8);
  wire [15:0] raw_beats = 16'((32'(n_out) + B32 - 1) / B32);
  wire [15:0] out_beats = raw ? raw_beats : row_beats8;
  wire [15:0] k_steps = n_in / 16'(LANES);
  wire [15:0] n_cg = 16'((32'(n_out) + COLS - 1) / COLS);
  wire [15:0] n_rg = 16'((32'(n_rows) + ROWS - 1) / ROWS);

  // ---- the stream loader: per row, its x words and then (residual) its residual words
  typedef enum logic [1:0] {S_IDLE, S_IN, S_DONE} sload_t;
  sload_t sl;
  logic running;                     // a tensor is in flight (from its first beat to its last out)
  logic [CW-1:0] s_cnt;
  logic [15:0] s_row, s_col;
  wire start = !running && s_axis_tvalid;
  wire s_fire = (sl == S_IN) && s_axis_tvalid;
  wire [15:0] s_width = in_words + (res ? row_beats8 : 16'd0);
  wire s_row_end = (s_col == s_width - 1'b1);
  wire [CW-1:0] s_total = CW'(n_rows) * CW'(s_width);
  wire s_res = (s_col >= in_words);              // the beat is a residual word
  wire [15:0] s_rcol = s_col - in_words;

  assign s_axis_tready = (sl == S_IN);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      sl <= S_IDLE;
      s_cnt <= '0;
      s_row <= '0;
      s_col <= '0;
    end else begin
      if (start) begin
        sl <= S_IN;
        s_cnt <= '0;
        s_row <= '0;
        s_col <= '0;
      end else if (s_fire) begin
        if (!s_res)
          x_mem[32'(s_row & 16'(ROWS - 1)) * WPC + 32'(s_col & 16'(WPC - 1))]
               [32'(s_row >> LR) * XD + 32'(s_col >> LW)] <= s_axis_tdata;
        else
          r_mem[32'(s_rcol & 16'(CB - 1))][32'(s_row) * OG + 32'(s_rcol >> LCB)] <= s_axis_tdata;
        s_col <= s_row_end ? '0 : s_col + 1'b1;
        s_row <= s_row_end ? s_row + 1'b1 : s_row;
        s_cnt <= s_cnt + 1'b1;
        if (s_cnt == s_total - 1'b1) sl <= S_DONE;
      end
    end
  end

  // ---- the weight loader: biases, then weights, of one GEMM at a time into buffer lb
  typedef enum logic [3:0] {L_IDLE, L_REQ_E, L_GET_E, L_WAIT, L_REQ_B, L_GET_B, L_REQ_W, L_GET_W,
                            L_END} wload_t;
  wload_t ml;
  logic [BEAT*EB-1:0] e_raw;                 // the weight-list entry
  logic [31:0] wl_ptr, m_addr;
  logic [CW-1:0] m_cnt, w_left;              // beats of the burst / of the weights left
  logic [15:0] m_row, m_col, chunk;
  logic [WI-1:0] m_base;                     // the loaded row's first word in its bank
  logic lb, cb;                              // buffer being loaded / used by the array
  logic [NBUF-1:0] b_used;                   // buffer holds a GEMM not yet computed
  logic [NBUF-1:0] b_full;                   // and all its weights are in
  wire [31:0] ld_w = (PREFETCH != 0) ? e_raw[31:0] : w_addr;
  wire [31:0] ld_b = (PREFETCH != 0) ? e_raw[63:32] : b_addr;
  wire [15:0] ld_in = (PREFETCH != 0) ? e_raw[79:64] : n_in;
  wire [15:0] ld_out = (PREFETCH != 0) ? e_raw[95:80] : n_out;
  wire [15:0] ld_words = ld_in / 16'(B8);
  wire [WI-1:0] ld_k = WI'(ld_in >> LL);            // k-steps: the words of a weight row group
  wire [CW-1:0] ld_b_beats = CW'((32'(ld_out) + B32 - 1) / B32);
  wire [CW-1:0] ld_w_beats = CW'(ld_out) * CW'(ld_words);
  wire [15:0] next_chunk = (w_left > CW'(W_CHUNK)) ? 16'(W_CHUNK) : 16'(w_left);
  wire m_fire = (ml == L_GET_W) && mem_rsp_valid;
  wire m_row_end = (m_col == ld_words - 1'b1);
  logic [BEAT*EB-1:0] e_cur;                 // the entry with the beat arriving now
  always_comb begin
    e_cur = e_raw;
    e_cur[BEAT * 32'(m_cnt)+:BEAT] = mem_rsp_data;
  end

  assign mem_req_valid = (ml == L_REQ_E) || (ml == L_REQ_B) || (ml == L_REQ_W);
  always_comb begin
    unique case (ml)
      L_REQ_E: begin
        mem_req_addr = wl_ptr;
        mem_req_beats = 16'(EB);
      end
      L_REQ_B: begin
        mem_req_addr = ld_b;
        mem_req_beats = 16'(ld_b_beats);
      end
      default: begin
        mem_req_addr = m_addr;
        mem_req_beats = next_chunk;
      end
    endcase
  end
  assign mem_rsp_ready = (ml == L_GET_E) || (ml == L_GET_B) || (ml == L_GET_W);

  // the array finishes with its buffer on the last step of the last row group
  logic c_done;
  // a (re)start of the weight list waits until no burst of the loader is offered or in flight
  logic wl_pend;
  wire wl_go = (PREFETCH != 0) && (wl_start || wl_pend) &&
               ((ml == L_IDLE) || (ml == L_END) || (ml == L_WAIT));

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      ml <= L_IDLE;
      m_cnt <= '0;
      m_row <= '0;
      m_col <= '0;
      m_base <= '0;
      m_addr <= '0;
      w_left <= '0;
      chunk <= '0;
      wl_ptr <= '0;
      e_raw <= '0;
      lb <= 1'b0;
      b_used <= '0;
      b_full <= '0;
      wl_pend <= 1'b0;
    end else begin
      if (wl_start && !wl_go) wl_pend <= 1'b1;
      if (wl_go) begin
        wl_pend <= 1'b0;
        ml <= L_REQ_E;
        wl_ptr <= wl_addr;
        lb <= 1'b0;
        b_used <= '0;
        b_full <= '0;
      end else if ((PREFETCH == 0) && start) begin
        ml <= L_REQ_B;
        b_used <= '1;
        b_full <= '0;
      end else begin
        unique case (ml)
          L_REQ_E: if (mem_req_ready) begin
            ml <= L_GET_E;
            m_cnt <= '0;
          end
          L_GET_E: if (mem_rsp_valid) begin
            e_raw <= e_cur;
            m_cnt <= m_cnt + 1'b1;
            if (m_cnt == CW'(EB - 1)) begin
              wl_ptr <= wl_ptr + 32'(ES);
              // n_out = 0 ends the list
              ml <= (e_cur[95:80] == 16'd0) ? L_END : L_WAIT;
            end
          end
          L_WAIT: if (!b_used[lb]) begin
            b_used[lb] <= 1'b1;
            ml <= L_REQ_B;
          end
          L_REQ_B: if (mem_req_ready) begin
            ml <= L_GET_B;
            m_cnt <= '0;
          end
          L_GET_B: if (mem_rsp_valid) begin
            for (int l = 0; l < B32; l++) begin
              if (32'(m_cnt) * B32 + l < OG * COLS)
                b_mem[(32'(m_cnt) * B32 + l) % COLS][32'(lb) * OG + (32'(m_cnt) * B32 + l) / COLS]
                    <= mem_rsp_data[32*l+:32];
            end
            m_cnt <= m_cnt + 1'b1;
            if (m_cnt == ld_b_beats - 1'b1) begin
              ml <= L_REQ_W;
              m_row <= '0;
              m_col <= '0;
              m_base <= '0;
              m_addr <= ld_w;
              w_left <= ld_w_beats;
            end
          end
          L_REQ_W: if (mem_req_ready) begin
            ml <= L_GET_W;
            m_cnt <= '0;
            chunk <= next_chunk;
          end
          L_GET_W: if (m_fire) begin
            w_mem[32'(m_row & 16'(COLS - 1)) * WPC + 32'(m_col & 16'(WPC - 1))]
                 [32'(lb) * WD + 32'(m_base) + 32'(m_col >> LW)] <= mem_rsp_data;
            m_col <= m_row_end ? '0 : m_col + 1'b1;
            m_row <= m_row_end ? m_row + 1'b1 : m_row;
            if (m_row_end && (m_row & 16'(COLS - 1)) == 16'(COLS - 1)) m_base <= m_base + ld_k;
            m_cnt <= m_cnt + 1'b1;
            m_addr <= m_addr + 32'(B8);
            w_left <= w_left - 1'b1;
            if (w_left == CW'(1)) begin
              b_full[lb] <= 1'b1;
              lb <= (NBUF > 1) ? !lb : 1'b0;
              ml <= (PREFETCH != 0) ? L_REQ_E : L_IDLE;
            end else if (m_cnt == CW'(chunk) - 1'b1) ml <= L_REQ_W;
          end
          default: ;  // L_IDLE / L_END hold until the next start
        endcase
      end
      // the array is done with buffer cb: it may take the GEMM after next
      if (c_done) begin
        b_used[cb] <= 1'b0;
        b_full[cb] <= 1'b0;
      end
    end
  end


  // ---- the array
  logic c_on;                          // the array has row groups left to compute
  logic [15:0] rg, cg, k;              // row group, column group, k-step
  logic [WI-1:0] wk;                   // the weight word of (cg, k) in its bank: cg * k_steps + k
  logic signed [31:0] acc[ROWS][COLS];
  logic signed [31:0] acc_next[ROWS][COLS];
  logic signed [31:0] hold[ROWS][COLS];
  logic hold_valid;                    // hold has a column group to write back
  logic [15:0] h_rg, h_cg;
  logic [RI-1:0] dr;                   // write-back row within the hold
  logic [1:0] bank_full;               // output bank holds a finished row group
  logic o_bank;                        // the bank the output streams next

  always_comb begin
    logic [BEAT-1:0] xw[ROWS][WPC];
    logic [BEAT-1:0] ww[COLS][WPC];
    logic signed [31:0] dot[ROWS][COLS];
    for (int r = 0; r < ROWS; r++)
      for (int j = 0; j < WPC; j++) xw[r][j] = x_mem[r * WPC + j][32'(rg) * XD + 32'(k)];
    for (int c = 0; c < COLS; c++)
      for (int j = 0; j < WPC; j++) ww[c][j] = w_mem[c * WPC + j][32'(cb) * WD + 32'(wk)];
    for (int r = 0; r < ROWS; r++)
      for (int c = 0; c < COLS; c++) dot[r][c] = '0;
    for (int c = 0; c < COLS; c++) begin
      for (int j = 0; j < WPC; j++) begin
        for (int l = 0; l < B8; l++) begin
          logic signed [7:0] w8;
          w8 = $signed(ww[c][j][8*l+:8]);
          for (int p = 0; p < PAIRS; p++) begin
            logic signed [34:0] prod;
            prod = pack_mul2($signed(xw[2*p][j][8*l+:8]), $signed(xw[2*p+1][j][8*l+:8]), 9'(w8));
            dot[2*p][c] = dot[2*p][c] + pack_lo(prod[17:0]);
            dot[2*p+1][c] = dot[2*p+1][c] + pack_hi(prod[34:17]);
          end
          if (ROWS % 2 == 1)
            dot[ROWS-1][c] = dot[ROWS-1][c] + 32'($signed(xw[ROWS-1][j][8*l+:8])) * 32'(w8);
        end
      end
    end
    for (int r = 0; r < ROWS; r++)
      for (int c = 0; c < COLS; c++)
        acc_next[r][c] = ((k == 0) ? b_mem[c][BI'(32'(cb) * OG + 32'(cg))] : acc[r][c]) + dot[r][c];
  end

  // the array starts as soon as its operands are in: row group rg once its x rows have
  // arrived, column group cg once its weight rows have (the first row group follows the
  // weight load when the weights were not prefetched)
  logic x_ready, w_ready, r_ready;
  always_comb begin
    x_ready = (sl == S_DONE) || (32'(s_row) >= (32'(rg) + 1) * ROWS);
    w_ready = b_full[cb] || (b_used[cb] && (lb == cb) && ((ml == L_REQ_W) || (ml == L_GET_W)) &&
                             (32'(m_row) >= (32'(cg) + 1) * COLS));
    // the residual rows of the row group in the hold (residual write-back only)
    r_ready = !res || (sl == S_DONE) || (32'(s_row) >= (32'(h_rg) + 1) * ROWS);
  end
  wire last_k = (k == k_steps - 1'b1);
  wire wb_go = hold_valid && r_ready;
  wire hold_frees = wb_go && (32'(dr) == ROWS - 1);
  // stall: a new row group needs its output bank empty; a finished column group needs the hold
  wire c_stall = ((cg == 0) && (k == 0) && bank_full[rg[0]]) || (last_k && hold_valid && !hold_frees);
  wire c_go = running && x_ready && w_ready && c_on && !c_stall;
  assign c_done = c_go && last_k && (cg == n_cg - 1'b1) && (rg == n_rg - 1'b1);

  // ---- write-back: one hold row per cycle through COLS epilogue units
  logic [BEAT-1:0] r_word[CB];
  logic signed [7:0] y8[COLS];
  always_comb begin
    for (int i = 0; i < CB; i++)
      r_word[i] = r_mem[i][(32'(h_rg) * ROWS + 32'(dr)) * OG + 32'(h_cg)];
    for (int c = 0; c < COLS; c++)
      y8[c] = linear_epilogue(64'(hold[dr][c]), 32'(epi), 32'(frac_acc), 32'(frac_out),
                              32'(frac_gelu_in), 32'(frac_res),
                              $signed(r_word[c / B8][8*(c%B8)+:8]));
  end
  wire h_bank = h_rg[0];
  wire [YI-1:0] h_addr = YI'((32'(h_bank) * ROWS + 32'(dr)) * OG + 32'(h_cg));

  // ---- output: rows of the full bank, one beat per cycle
  logic [15:0] o_rg, o_row, o_beat;
  wire [15:0] o_rows = (n_rows - o_rg * 16'(ROWS) < 16'(ROWS)) ? n_rows - o_rg * 16'(ROWS)
                                                                : 16'(ROWS);
  wire [31:0] o_addr = (32'(o_bank) * ROWS + 32'(o_row)) * OG;
  wire [BEAT-1:0] y_word = y_mem[32'(o_beat) % CB][o_addr + 32'(o_beat) / CB];
  wire [BEAT-1:0] a_word = a_mem[32'(o_beat) % AB][o_addr + 32'(o_beat) / AB];
  // the last int32 beat of a row: lanes past n_out are zero
  logic [BEAT-1:0] a_last_fix;
  always_comb begin
    a_last_fix = a_word;
    for (int l = 0; l < B32; l++)
      if (32'(o_beat) * B32 + l >= 32'(n_out)) a_last_fix[32*l+:32] = '0;
  end
  assign m_axis_tvalid = running && bank_full[o_bank];
  assign m_axis_tdata = raw ? a_last_fix : y_word;
  wire o_row_end = (o_beat == out_beats - 1'b1);
  wire o_grp_end = o_row_end && (o_row == o_rows - 1'b1);
  assign m_axis_tlast = o_grp_end && (o_rg == n_rg - 1'b1);
  wire o_fire = m_axis_tvalid && m_axis_tready;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      running <= 1'b0;
      c_on <= 1'b0;
      rg <= '0;
      cg <= '0;
      k <= '0;
      wk <= '0;
      cb <= 1'b0;
      hold_valid <= 1'b0;
      h_rg <= '0;
      h_cg <= '0;
      dr <= '0;
      bank_full <= '0;
      o_bank <= 1'b0;
      o_rg <= '0;
      o_row <= '0;
      o_beat <= '0;
      mac_cycles <= '0;
    end else begin
      if (wl_go) cb <= 1'b0;
      if (start) begin
        running <= 1'b1;
        c_on <= 1'b1;
        rg <= '0;
        cg <= '0;
        k <= '0;
        wk <= '0;
        bank_full <= '0;
        o_bank <= 1'b0;
        o_rg <= '0;
        o_row <= '0;
        o_beat <= '0;
        mac_cycles <= '0;
      end
      // write-back of the hold
      if (wb_go) begin
        for (int c = 0; c < COLS; c++) begin
          if (32'(h_cg) * COLS + c < 32'(n_out)) begin
            y_mem[c / B8][h_addr][8*(c%B8)+:8] <= y8[c];
            a_mem[c / B32][h_addr][32*(c%B32)+:32] <= hold[dr][c];
          end
        end
        dr <= dr + 1'b1;
        if (hold_frees) begin
          hold_valid <= 1'b0;
          dr <= '0;
          if (h_cg == n_cg - 1'b1) bank_full[h_bank] <= 1'b1;
        end
      end
      // the array
      if (c_go) begin
        mac_cycles <= mac_cycles + 1'b1;
        wk <= wk + 1'b1;
        if (last_k) begin
          for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++) hold[r][c] <= acc_next[r][c];
          hold_valid <= 1'b1;
          h_rg <= rg;
          h_cg <= cg;
          k <= '0;
          if (cg == n_cg - 1'b1) begin
            cg <= '0;
            wk <= '0;
            rg <= rg + 1'b1;
            if (rg == n_rg - 1'b1) begin
              c_on <= 1'b0;
              cb <= (NBUF > 1) ? !cb : 1'b0;
            end
          end else cg <= cg + 1'b1;
        end else begin
          for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++) acc[r][c] <= acc_next[r][c];
          k <= k + 1'b1;
        end
      end
      // the output stream
      if (o_fire) begin
        o_beat <= o_row_end ? '0 : o_beat + 1'b1;
        o_row <= o_row_end ? o_row + 1'b1 : o_row;
        if (o_grp_end) begin
          o_row <= '0;
          bank_full[o_bank] <= 1'b0;
          o_bank <= !o_bank;
          o_rg <= o_rg + 1'b1;
          if (o_rg == n_rg - 1'b1) running <= 1'b0;
        end
      end
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ (^e_raw);
endmodule
