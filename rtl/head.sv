// Engine `head`: final LayerNorm of the CLS row, then the classifier (int32 logits), as a
// `layernorm` engine streaming straight into a `linear` engine (raw write-back). The two
// share the burst read port: layernorm fetches gamma/beta before its row, linear fetches its
// weights after it, so their bursts never overlap; the port follows the requester.
// In: one row of `dim` int8. Out: n_classes int32, two per beat.
module head #(
    parameter int MAX_D = 256,
    parameter int MAX_CLASSES = 1024
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
    output logic                             m_axis_tlast
);
  import sievit_pkg::*;

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

  assign mem_req_valid = owner_lin ? lin_req_valid : ln_req_valid;
  assign mem_req_addr = owner_lin ? lin_req_addr : ln_req_addr;
  assign mem_req_beats = owner_lin ? lin_req_beats : ln_req_beats;
  assign mem_rsp_ready = owner_lin ? lin_rsp_ready : ln_rsp_ready;

  // the port moves to linear when it asks, and back to layernorm when the logits are out
  always_ff @(posedge clk) begin
    if (!rst_n) owner_lin <= 1'b0;
    else if (lin_req_valid) owner_lin <= 1'b1;
    else if (m_axis_tvalid && m_axis_tready && m_axis_tlast) owner_lin <= 1'b0;
  end

  logic unused;
  assign unused = |lin_mac;
endmodule
