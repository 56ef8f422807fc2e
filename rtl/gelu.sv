// Engine `gelu`: element-wise integer GELU on an AXI4-Stream of int8 beats (8 lanes of
// 8 bits, TLAST passed through). One beat per cycle; a register slice on the output keeps
// TREADY free of combinational paths from the consumer back to the producer's data.
module gelu
(
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic signed [7:0]    frac_in,   // held stable while a tensor streams
    input  logic signed [7:0]    frac_out,
    input  logic [sievit_pkg::BEAT_BITS-1:0] s_axis_tdata,
    input  logic                 s_axis_tvalid,
    output logic                 s_axis_tready,
    input  logic                 s_axis_tlast,
    output logic [sievit_pkg::BEAT_BITS-1:0] m_axis_tdata,
    output logic                 m_axis_tvalid,
    input  logic                 m_axis_tready,
    output logic                 m_axis_tlast
);
  import sievit_pkg::*;

  logic [BEAT_BITS-1:0] result;

  always_comb begin
    for (int l = 0; l < I8_PER_BEAT; l++) begin
      result[8*l+:8] = gelu_q(s_axis_tdata[8*l+:8], 32'(frac_in), 32'(frac_out));
    end
  end

  assign s_axis_tready = !m_axis_tvalid || m_axis_tready;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      m_axis_tvalid <= 1'b0;
      m_axis_tdata  <= '0;
      m_axis_tlast  <= 1'b0;
    end else if (s_axis_tvalid && s_axis_tready) begin
      m_axis_tvalid <= 1'b1;
      m_axis_tdata  <= result;
      m_axis_tlast  <= s_axis_tlast;
    end else if (m_axis_tready) begin
      m_axis_tvalid <= 1'b0;
    end
  end
endmodule
