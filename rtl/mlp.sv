// Engine `mlp`: fc1 with GELU fused into its write-back, then fc2 with the residual fused
// (docs/numerics.md), sequenced over one `linear` engine. In: h2 rows (LN2 output), then x1
// rows (the residual), `dim` int8 each. Out: n rows of `dim` int8 (res2). The h2 rows go
// straight to fc1 and the x1 rows are buffered while it computes; fc1's GELU rows stay on
// chip and go to fc2 each followed by its x1 row (the residual).
module mlp #(
    parameter int LANES = 8,
    parameter int ROWS = 2,           // linear: token rows per cycle
    parameter int COLS = 8,           // linear: output columns per cycle
    parameter int EXT_LINEAR = 0,     // 1: use the lin_* port instead of a private linear
    parameter int MAX_N = 64,
    parameter int MAX_D = 128,     // model width
    parameter int MAX_H = 256,     // MLP hidden width
    parameter int BEAT = 64        // stream beat bits
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
    input  logic [15:0]                      hidden,
    // fc1 (GELU write-back) and fc2 (residual write-back) descriptors
    input  logic [31:0]                      fc1_w_addr,
    input  logic [31:0]                      fc1_b_addr,
    input  logic signed [7:0]                fc1_frac_acc,
    input  logic signed [7:0]                fc1_frac_gelu_in,
    input  logic signed [7:0]                fc1_frac_out,
    input  logic [31:0]                      fc2_w_addr,
    input  logic [31:0]                      fc2_b_addr,
    input  logic signed [7:0]                fc2_frac_acc,
    input  logic signed [7:0]                fc2_frac_res,
    input  logic signed [7:0]                fc2_frac_out,
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
    output logic                             m_axis_tlast,
    output logic [31:0]                      mac_cycles
);
  import sievit_pkg::*;
  localparam int B8 = BEAT / 8;   // int8 elements per beat

  localparam int CW = 20;
  localparam int GW = MAX_N * MAX_H / B8;  // GELU rows, in beats
  localparam int XW = MAX_N * MAX_D / B8;  // residual rows, in beats
  localparam int GI = $clog2(GW);
  localparam int XI = $clog2(XW);

  // FC2_IN: per row, its GELU words and then its residual words into fc2
  typedef enum logic [2:0] {FC1_IN, FC1_RUN, FC2_IN, FC2_OUT} phase_t;
  phase_t phase;

  logic [BEAT-1:0] g_buf[GW];
  logic [BEAT-1:0] x_buf[XW];
  logic [CW-1:0] g_in, g_out, x_in, x_out;   // beat counters
  logic [15:0] f_col;                        // FC2_IN: beat within the row (GELU, then residual)
  logic f_res;                               //   the residual words are next
  logic [31:0] mac1;

  wire [CW-1:0] h_beats = CW'(n) * CW'(dim / 16'(B8));
  wire [CW-1:0] g_beats = CW'(n) * CW'(hidden / 16'(B8));
  wire [CW-1:0] x_beats = h_beats;

  // the linear engine and its stream / configuration muxes
  logic [BEAT-1:0] l_s_tdata, l_m_tdata;
  logic l_s_tvalid, l_s_tready, l_m_tvalid, l_m_tready, l_m_tlast;
  logic [31:0] l_mac;
  wire fc2 = (phase == FC2_IN) || (phase == FC2_OUT);
  wire [15:0] g_row = hidden / 16'(B8);
  wire [15:0] x_row = dim / 16'(B8);

  wire [15:0] l_n_in = fc2 ? hidden : dim;
  wire [15:0] l_n_out = fc2 ? dim : hidden;
  wire [31:0] l_w_addr = fc2 ? fc2_w_addr : fc1_w_addr;
  wire [31:0] l_b_addr = fc2 ? fc2_b_addr : fc1_b_addr;
  wire [1:0] l_epi = fc2 ? 2'(EPI_RESIDUAL) : 2'(EPI_GELU);
  wire signed [7:0] l_frac_acc = fc2 ? fc2_frac_acc : fc1_frac_acc;
  wire signed [7:0] l_frac_out = fc2 ? fc2_frac_out : fc1_frac_out;
  wire signed [7:0] l_frac_gelu_in = fc1_frac_gelu_in;
  wire signed [7:0] l_frac_res = fc2_frac_res;
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
    linear #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .MAX_N(MAX_N),
              .MAX_IN(MAX_H > MAX_D ? MAX_H : MAX_D), .MAX_OUT(MAX_H > MAX_D ? MAX_H : MAX_D), .BEAT(BEAT)) u_linear (
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

  // inputs: h2 rows go straight to fc1; then x1 rows are buffered (during fc1's compute)
  wire take_h = (phase == FC1_IN);
  wire take_x = !take_h && (x_in != x_beats);
  assign s_axis_tready = take_h ? l_s_tready : take_x;
  always_comb begin
    unique case (phase)
      FC1_IN: begin
        l_s_tdata = s_axis_tdata;
        l_s_tvalid = s_axis_tvalid;
      end
      FC2_IN: begin
        l_s_tdata = f_res ? x_buf[XI'(x_out)] : g_buf[GI'(g_out)];
        l_s_tvalid = !f_res || (x_out < x_in);  // residual rows may still be arriving
      end
      default: begin
        l_s_tdata = '0;
        l_s_tvalid = 1'b0;
      end
    endcase
  end
  // fc1's output fills g_buf; fc2's output is the engine's output
  // fc1's rows are kept as they come, also while its input still arrives (FC1_IN)
  wire fc1 = (phase == FC1_IN) || (phase == FC1_RUN);
  assign l_m_tready = fc1 ? 1'b1 : (fc2 ? m_axis_tready : 1'b0);
  assign m_axis_tdata = l_m_tdata;
  assign m_axis_tvalid = fc2 && l_m_tvalid;   // fc2's rows stream out while it runs
  assign m_axis_tlast = fc2 && l_m_tlast;
  assign mac_cycles = mac1 + (fc2 ? l_mac : 32'd0);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      phase <= FC1_IN;
      g_in <= '0;
      g_out <= '0;
      x_in <= '0;
      x_out <= '0;
      f_col <= '0;
      f_res <= 1'b0;
      mac1 <= '0;
    end else begin
      if (take_x && s_axis_tvalid) begin
        x_buf[XI'(x_in)] <= s_axis_tdata;
        x_in <= x_in + 1'b1;
      end
      unique case (phase)
        FC1_IN: if (s_axis_tvalid && l_s_tready) begin
          x_in <= '0;
          mac1 <= '0;
          if (l_s_tready && s_axis_tvalid && (g_out == h_beats - 1'b1)) begin
            phase <= FC1_RUN;
            g_out <= '0;
          end else g_out <= g_out + 1'b1;  // counts h2 beats sent to fc1
        end
        FC1_RUN: ;   // (fc1's rows: below)
        FC2_IN: if (l_s_tready && l_s_tvalid) begin
          if (f_res) x_out <= x_out + 1'b1;
          else g_out <= g_out + 1'b1;
          f_col <= (f_col == g_row + x_row - 1'b1) ? '0 : f_col + 1'b1;
          if (f_col == g_row - 1'b1) f_res <= 1'b1;
          if (f_col == g_row + x_row - 1'b1) f_res <= 1'b0;
          if (x_out == x_beats - 1'b1 && f_res) phase <= FC2_OUT;
        end
        FC2_OUT: if (m_axis_tvalid && m_axis_tready && m_axis_tlast) begin
          phase <= FC1_IN;
          g_in <= '0;
          g_out <= '0;
          x_in <= '0;
        end
        default: phase <= FC1_IN;
      endcase
      if (fc1 && l_m_tvalid) begin   // fc1's rows into g_buf (its last row only in FC1_RUN)
        g_buf[GI'(g_in)] <= l_m_tdata;
        g_in <= g_in + 1'b1;
        if (g_in == g_beats - 1'b1) begin
          phase <= FC2_IN;
          g_out <= '0;
          x_out <= '0;
          f_col <= '0;
          f_res <= 1'b0;
          mac1 <= l_mac;
        end
      end
    end
  end

  logic unused;
  assign unused = s_axis_tlast;
endmodule
