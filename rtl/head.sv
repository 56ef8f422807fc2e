// Engine `head`: final LayerNorm of the CLS row, then the classifier (int32 logits), as a
// `layernorm` engine streaming straight into a `linear` engine (raw write-back).
// EXT_LINEAR = 0: a private linear (8 x 8 MACs, 64-bit weight reads) shares the burst read
// port with layernorm: layernorm fetches gamma/beta before its row, linear fetches its
// weights after it, so their bursts never overlap; the port follows the requester.
// EXT_LINEAR = 1: the top's shared array runs the classifier behind lin_* (its weights come
// from the weight list, prefetched while the last block runs); the LayerNorm's 64-bit beats
// are packed into BEAT-bit words for it and its BEAT-bit int32 words are cut back into
// 64-bit beats; the read port serves the LayerNorm alone.
// In: one row of `dim` int8 (a multiple of BEAT/8). Out: n_classes int32, two per beat.
module head #(
    parameter int MAX_D = 256,
    parameter int MAX_CLASSES = 1024,
    parameter int EXT_LINEAR = 0,     // 1: use the lin_* port instead of a private linear
    parameter int BEAT = 64           // the lin_* words (EXT_LINEAR = 1): 64, 128 or 256
) (
    input  logic                             clk,
    input  logic                             rst_n,
    input  logic [15:0]                      dim,
    input  logic [15:0]                      n_classes,
    input  logic [31:0]                      gamma_addr,
    input  logic [31:0]                      beta_addr,
    input  logic signed [7:0]                gamma_frac,
    input  logic signed [7:0]                ln_frac_out,
    input  logic [31:0]                      w_addr,
    input  logic [31:0]                      b_addr,
    input  logic signed [7:0]                frac_acc,
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
    output logic                             m_axis_tlast,
    // the linear engine's port, used when EXT_LINEAR = 1: outputs 0 and inputs ignored
    // otherwise
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
    output logic [BEAT-1:0]                  lin_s_tdata,
    output logic                             lin_s_tvalid,
    input  logic                             lin_s_tready,
    input  logic [BEAT-1:0]                  lin_m_tdata,
    input  logic                             lin_m_tvalid,
    output logic                             lin_m_tready,
    input  logic                             lin_m_tlast,
    input  logic [31:0]                      lin_mac_cycles
);
  import sievit_pkg::*;
  localparam int R = BEAT / BEAT_BITS;              // 64-bit parts per lin_* word
  localparam int RW = $clog2(R > 1 ? R : 2);

  logic [BEAT_BITS-1:0] mid_tdata;
  logic mid_tvalid, mid_tready, mid_tlast;
  logic ln_req_valid, ln_rsp_ready, lin_req_valid, lin_rsp_ready;
  logic [31:0] ln_req_addr, lin_req_addr;
  logic [15:0] ln_req_beats, lin_req_beats;
  logic [31:0] lin_mac;
  logic owner_lin;  // which engine the memory port serves

  layernorm #(.MAX_D(MAX_D)) u_ln (
      .clk, .rst_n, .dim, .n_rows(16'd1), .gamma_addr, .beta_addr, .gamma_frac,
      .frac_out(ln_frac_out),
      .mem_req_valid(ln_req_valid), .mem_req_ready(mem_req_ready && !owner_lin),
      .mem_req_addr(ln_req_addr), .mem_req_beats(ln_req_beats),
      .mem_rsp_valid(mem_rsp_valid && !owner_lin), .mem_rsp_ready(ln_rsp_ready),
      .mem_rsp_data,
      .s_axis_tdata, .s_axis_tvalid, .s_axis_tready, .s_axis_tlast,
      .m_axis_tdata(mid_tdata), .m_axis_tvalid(mid_tvalid), .m_axis_tready(mid_tready),
      .m_axis_tlast(mid_tlast));

  if (EXT_LINEAR == 0) begin : g_own_linear
    linear #(.LANES(8), .ROWS(1), .COLS(8), .MAX_N(1), .MAX_IN(MAX_D), .MAX_OUT(MAX_CLASSES)) u_linear (
        .clk, .rst_n, .n_in(dim), .n_out(n_classes), .n_rows(16'd1), .w_addr, .b_addr,
        .wl_start(1'b0), .wl_addr(32'd0),
        .epi(2'(EPI_RAW)), .frac_acc, .frac_out(8'sd0), .frac_gelu_in(8'sd0), .frac_res(8'sd0),
        .mem_req_valid(lin_req_valid), .mem_req_ready(mem_req_ready && owner_lin),
        .mem_req_addr(lin_req_addr), .mem_req_beats(lin_req_beats),
        .mem_rsp_valid(mem_rsp_valid && owner_lin), .mem_rsp_ready(lin_rsp_ready),
        .mem_rsp_data,
        .s_axis_tdata(mid_tdata), .s_axis_tvalid(mid_tvalid), .s_axis_tready(mid_tready),
        .s_axis_tlast(mid_tlast),
        .m_axis_tdata, .m_axis_tvalid, .m_axis_tready, .m_axis_tlast, .mac_cycles(lin_mac));
    assign {lin_n_in, lin_n_out, lin_n_rows, lin_w_addr, lin_b_addr, lin_epi} = '0;
    assign {lin_frac_acc, lin_frac_out, lin_frac_gelu_in, lin_frac_res} = '0;
    assign {lin_s_tdata, lin_s_tvalid, lin_m_tready} = '0;
    logic unused_lin;
    assign unused_lin = ^{lin_s_tready, lin_m_tdata, lin_m_tvalid, lin_m_tlast, lin_mac_cycles};
  end else begin : g_ext_linear
    assign lin_n_in = dim;
    assign lin_n_out = n_classes;
    assign lin_n_rows = 16'd1;
    assign lin_w_addr = w_addr;
    assign lin_b_addr = b_addr;
    assign lin_epi = 2'(EPI_RAW);
    assign lin_frac_acc = frac_acc;
    assign {lin_frac_out, lin_frac_gelu_in, lin_frac_res} = '0;
    assign {lin_req_valid, lin_rsp_ready, lin_req_addr, lin_req_beats} = '0;
    assign lin_mac = lin_mac_cycles;
    // the LayerNorm's 64-bit beats, R to a word
    logic [BEAT-1:0] pk_word;
    logic [RW:0] pk_n;                              // parts held
    wire pk_full = (pk_n == (RW + 1)'(R));
    assign mid_tready = !pk_full;
    assign lin_s_tvalid = pk_full;
    assign lin_s_tdata = pk_word;
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        pk_n <= '0;
        pk_word <= '0;
      end else if (pk_full) begin
        if (lin_s_tready) pk_n <= '0;
      end else if (mid_tvalid) begin
        for (int p = 0; p < R; p++)
          if (32'(pk_n) == p) pk_word[BEAT_BITS*p+:BEAT_BITS] <= mid_tdata;
        pk_n <= pk_n + 1'b1;
      end
    end
    // the logits' words, cut into ceil(n_classes / 2) beats
    wire [15:0] out_parts = 16'((32'(n_classes) + 1) / 2);
    logic [15:0] up_cnt;                            // beats sent
    logic [RW-1:0] up_part;                         // part of the current word
    wire up_end = (up_cnt == out_parts - 1'b1);
    wire up_word_end = (32'(up_part) == R - 1) || up_end;
    always_comb begin
      m_axis_tdata = '0;
      for (int p = 0; p < R; p++)
        if (32'(up_part) == p) m_axis_tdata = lin_m_tdata[BEAT_BITS*p+:BEAT_BITS];
    end
    assign m_axis_tvalid = lin_m_tvalid;
    assign m_axis_tlast = up_end;
    assign lin_m_tready = m_axis_tready && up_word_end;
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        up_cnt <= '0;
        up_part <= '0;
      end else if (m_axis_tvalid && m_axis_tready) begin
        up_cnt <= up_end ? 16'd0 : up_cnt + 1'b1;
        up_part <= up_word_end ? '0 : up_part + 1'b1;
      end
    end
    logic unused_ext;
    assign unused_ext = ^{mid_tlast, lin_m_tlast};
  end

  assign mem_req_valid = owner_lin ? lin_req_valid : ln_req_valid;
  assign mem_req_addr = owner_lin ? lin_req_addr : ln_req_addr;
  assign mem_req_beats = owner_lin ? lin_req_beats : ln_req_beats;
  assign mem_rsp_ready = owner_lin ? lin_rsp_ready : ln_rsp_ready;

  // the port moves to linear when it asks, and back to layernorm when the logits are out
  // (EXT_LINEAR = 1: linear never asks, the port stays with layernorm)
  always_ff @(posedge clk) begin
    if (!rst_n) owner_lin <= 1'b0;
    else if (lin_req_valid) owner_lin <= 1'b1;
    else if (m_axis_tvalid && m_axis_tready && m_axis_tlast) owner_lin <= 1'b0;
  end

  logic unused;
  assign unused = |lin_mac;
endmodule
