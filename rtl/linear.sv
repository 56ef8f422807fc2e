// Engine `linear`: int8 x int8 -> int32 GEMM of n_rows token rows on a LANES-wide MAC array,
// bias, and the fused write-back (requantize / GELU / residual, or raw int32 accumulators).
// Weights and biases come once per tensor through the burst read port into on-chip buffers;
// every row then reuses them. Message layout (engine stream protocol): in = x rows
// (n_in int8 each), then residual rows (n_out int8 each, residual epilogue only);
// out = n_rows rows of n_out int8, or n_rows*n_out int32 (2 per beat) for EPI_RAW.
module linear
#(
    parameter int LANES = 8,        // MACs per cycle: a multiple of 8
    parameter int MAX_N = 64,       // token rows
    parameter int MAX_IN = 256,     // input width (multiple of LANES)
    parameter int MAX_OUT = 320     // output width (multiple of 8)
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic [15:0]          n_in,
    input  logic [15:0]          n_out,
    input  logic [15:0]          n_rows,
    input  logic [31:0]          w_addr,        // byte addresses, 8-byte aligned
    input  logic [31:0]          b_addr,
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
    input  logic [sievit_pkg::BEAT_BITS-1:0] mem_rsp_data,
    input  logic [sievit_pkg::BEAT_BITS-1:0] s_axis_tdata,
    input  logic                 s_axis_tvalid,
    output logic                 s_axis_tready,
    input  logic                 s_axis_tlast,
    output logic [sievit_pkg::BEAT_BITS-1:0] m_axis_tdata,
    output logic                 m_axis_tvalid,
    input  logic                 m_axis_tready,
    output logic                 m_axis_tlast,
    output logic [31:0]          mac_cycles      // cycles the MAC array did useful work
);
  import sievit_pkg::*;

  localparam int CW = 24;  // counters

  typedef enum logic [3:0] {IDLE, LOAD_X, LOAD_R, REQ_B, GET_B, REQ_W, GET_W, MAC, OUT_I8, OUT_I32} state_t;
  state_t state;

  localparam int XS = MAX_IN / I8_PER_BEAT;    // words per input row (buffer stride)
  localparam int RS = MAX_OUT / I8_PER_BEAT;   // words per residual row
  localparam int WPC = LANES / I8_PER_BEAT;    // words per MAC chunk

  // Buffers hold whole 64-bit beats: one write per cycle at a counter address and LANES-wide
  // reads, so they map to RAM (no per-byte scatter, no address division).
  logic [BEAT_BITS-1:0] x_buf[MAX_N * XS];
  logic [BEAT_BITS-1:0] r_buf[MAX_N * RS];
  logic [BEAT_BITS-1:0] w_buf[MAX_OUT * XS];
  logic signed [31:0] b_buf[MAX_OUT];
  logic signed [7:0] y_buf[MAX_OUT];   // one output row (int8 write-back)
  logic signed [31:0] a_buf[MAX_OUT];  // one output row (raw accumulators)

  logic [CW-1:0] cnt;                   // beat / word counter of the current phase
  logic [15:0] row, o, k;               // token row, output column, input chunk
  logic [15:0] ld_row, ld_col;          // row and word of the beat being loaded
  logic signed [31:0] acc;

  wire [CW-1:0] x_beats = CW'(n_rows) * CW'(n_in / 16'(I8_PER_BEAT));
  wire [CW-1:0] r_beats = CW'(n_rows) * CW'(n_out / 16'(I8_PER_BEAT));
  wire [CW-1:0] w_beats = CW'(n_out) * CW'(n_in / 16'(I8_PER_BEAT));
  wire [CW-1:0] b_beats = CW'((32'(n_out) + 32'd1) / 32'd2);
  wire [15:0] k_steps = n_in / 16'(LANES);
  wire [15:0] row_beats8 = n_out / 16'(I8_PER_BEAT);
  wire [15:0] raw_beats = 16'((32'(n_out) + 1) / 2);
  wire [15:0] in_words = n_in / 16'(I8_PER_BEAT);
  wire raw = (epi == 2'(EPI_RAW));
  // the loaded beat's (row, word) walks rows of `ld_width` words
  wire [15:0] ld_width = (state == LOAD_R) ? row_beats8 : in_words;
  wire ld_row_end = (ld_col == ld_width - 1'b1);
  wire ld_fire = ((state == LOAD_X || state == LOAD_R) && s_axis_tvalid) ||
                 (state == GET_W && mem_rsp_valid);
  wire [CW-1:0] ld_beats = (state == LOAD_X) ? x_beats : (state == LOAD_R) ? r_beats : w_beats;

  always_ff @(posedge clk) begin
    if (!rst_n || (ld_fire && cnt == ld_beats - 1'b1)) begin
      ld_row <= '0;
      ld_col <= '0;
    end else if (ld_fire) begin
      ld_col <= ld_row_end ? '0 : ld_col + 1'b1;
      ld_row <= ld_row_end ? ld_row + 1'b1 : ld_row;
    end
  end

  // LANES products of the current chunk
  logic signed [31:0] dot;
  always_comb begin
    logic [BEAT_BITS-1:0] xw, ww;
    dot = '0;
    for (int j = 0; j < WPC; j++) begin
      xw = x_buf[32'(row) * XS + 32'(k) * WPC + j];
      ww = w_buf[32'(o) * XS + 32'(k) * WPC + j];
      for (int l = 0; l < I8_PER_BEAT; l++)
        dot = dot + $signed({{24{xw[8*l+7]}}, xw[8*l+:8]}) * $signed({{24{ww[8*l+7]}}, ww[8*l+:8]});
    end
  end
  // residual element (row, o)
  logic [BEAT_BITS-1:0] r_word;
  assign r_word = r_buf[32'(row) * RS + 32'(o >> 3)];
  wire signed [7:0] r_elem = r_word[8 * o[2:0]+:8];

  logic signed [31:0] acc_next;
  assign acc_next = acc + dot;

  logic [BEAT_BITS-1:0] out_word;
  always_comb begin
    out_word = '0;
    if (state == OUT_I32) begin
      for (int l = 0; l < I32_PER_BEAT; l++) begin
        if (32'(cnt) * I32_PER_BEAT + l < 32'(n_out))
          out_word[32*l+:32] = a_buf[32'(cnt) * I32_PER_BEAT + l];
      end
    end else begin
      for (int l = 0; l < I8_PER_BEAT; l++) out_word[8*l+:8] = y_buf[32'(cnt) * I8_PER_BEAT + l];
    end
  end

  assign s_axis_tready = (state == LOAD_X) || (state == LOAD_R);
  assign mem_req_valid = (state == REQ_B) || (state == REQ_W);
  assign mem_req_addr = (state == REQ_B) ? b_addr : w_addr;
  assign mem_req_beats = (state == REQ_B) ? 16'(b_beats) : 16'(w_beats);
  assign mem_rsp_ready = (state == GET_B) || (state == GET_W);
  assign m_axis_tvalid = (state == OUT_I8) || (state == OUT_I32);
  assign m_axis_tdata = out_word;
  assign m_axis_tlast = (row == n_rows - 1'b1) &&
                        (((state == OUT_I8) && (cnt == CW'(row_beats8 - 1'b1))) ||
                         ((state == OUT_I32) && (cnt == CW'(raw_beats - 1'b1))));

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= IDLE;
      cnt <= '0;
      row <= '0;
      o <= '0;
      k <= '0;
      acc <= '0;
      mac_cycles <= '0;
    end else begin
      unique case (state)
        IDLE: if (s_axis_tvalid) begin
          state <= LOAD_X;
          cnt <= '0;
          mac_cycles <= '0;
        end
        LOAD_X: if (s_axis_tvalid) begin
          x_buf[32'(ld_row) * XS + 32'(ld_col)] <= s_axis_tdata;
          if (cnt == x_beats - 1'b1) begin
            state <= (epi == 2'(EPI_RESIDUAL)) ? LOAD_R : REQ_B;
            cnt <= '0;
          end else cnt <= cnt + 1'b1;
        end
        LOAD_R: if (s_axis_tvalid) begin
          r_buf[32'(ld_row) * RS + 32'(ld_col)] <= s_axis_tdata;
          if (cnt == r_beats - 1'b1) begin
            state <= REQ_B;
            cnt <= '0;
          end else cnt <= cnt + 1'b1;
        end
        REQ_B: if (mem_req_ready) state <= GET_B;
        GET_B: if (mem_rsp_valid) begin
          for (int l = 0; l < I32_PER_BEAT; l++) begin
            if (32'(cnt) * I32_PER_BEAT + l < MAX_OUT)
              b_buf[32'(cnt) * I32_PER_BEAT + l] <= mem_rsp_data[32*l+:32];
          end
          if (cnt == b_beats - 1'b1) begin
            state <= REQ_W;
            cnt <= '0;
          end else cnt <= cnt + 1'b1;
        end
        REQ_W: if (mem_req_ready) state <= GET_W;
        GET_W: if (mem_rsp_valid) begin
          w_buf[32'(ld_row) * XS + 32'(ld_col)] <= mem_rsp_data;
          if (cnt == w_beats - 1'b1) begin
            state <= MAC;
            cnt <= '0;
            row <= '0;
            o <= '0;
            k <= '0;
            acc <= b_buf[0];
          end else cnt <= cnt + 1'b1;
        end
        MAC: begin
          mac_cycles <= mac_cycles + 1'b1;
          if (k == k_steps - 1'b1) begin
            a_buf[32'(o)] <= acc_next;
            y_buf[32'(o)] <= linear_epilogue(64'(acc_next), 32'(epi), 32'(frac_acc), 32'(frac_out),
                                        32'(frac_gelu_in), 32'(frac_res), r_elem);
            k <= '0;
            if (o == n_out - 1'b1) begin
              state <= raw ? OUT_I32 : OUT_I8;
              cnt <= '0;
            end else begin
              o <= o + 1'b1;
              acc <= b_buf[32'(o) + 1];
            end
          end else begin
            k <= k + 1'b1;
            acc <= acc_next;
          end
        end
        OUT_I8, OUT_I32: if (m_axis_tready) begin
          if (cnt == ((state == OUT_I8) ? CW'(row_beats8) : CW'(raw_beats)) - 1'b1) begin
            cnt <= '0;
            if (row == n_rows - 1'b1) begin
              state <= IDLE;
            end else begin
              row <= row + 1'b1;
              o <= '0;
              acc <= b_buf[0];
              state <= MAC;
            end
          end else cnt <= cnt + 1'b1;
        end
        default: state <= IDLE;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast;
endmodule
