// Read-port width adapter: a client of 64-bit words (any 8-byte-aligned address) on a port
// of WIDE-bit words (WIDE/8-byte-aligned addresses). A request becomes the burst of wide
// words that covers it; each wide word is handed over as its 64-bit parts, the parts before
// the first and after the last requested word skipped. One burst at a time, as the port.
// WIDE = 64 is a wire.
module mem_narrow #(
    parameter int WIDE = 256
) (
    input  logic            clk,
    input  logic            rst_n,
    input  logic            n_req_valid,
    output logic            n_req_ready,
    input  logic [31:0]     n_req_addr,
    input  logic [15:0]     n_req_beats,
    output logic            n_rsp_valid,
    input  logic            n_rsp_ready,
    output logic [63:0]     n_rsp_data,
    output logic            w_req_valid,
    input  logic            w_req_ready,
    output logic [31:0]     w_req_addr,
    output logic [15:0]     w_req_beats,
    input  logic            w_rsp_valid,
    output logic            w_rsp_ready,
    input  logic [WIDE-1:0] w_rsp_data
);
  localparam int R = WIDE / 64;          // 64-bit parts per wide word
  if (R == 1) begin : g_wire
    assign w_req_valid = n_req_valid;
    assign n_req_ready = w_req_ready;
    assign w_req_addr = n_req_addr;
    assign w_req_beats = n_req_beats;
    assign n_rsp_valid = w_rsp_valid;
    assign w_rsp_ready = n_rsp_ready;
    assign n_rsp_data = w_rsp_data;
    logic unused;
    assign unused = clk ^ rst_n;
  end else begin : g_split
    localparam int LR = $clog2(R);
    logic [LR-1:0] sub;                  // part of the current wide word
    logic [15:0] left;                   // 64-bit words still to hand over
    wire [LR-1:0] off = n_req_addr[3+:LR];
    assign w_req_valid = n_req_valid;
    assign n_req_ready = w_req_ready;
    assign w_req_addr = {n_req_addr[31:3+LR], {(3 + LR){1'b0}}};
    assign w_req_beats = 16'((32'(off) + 32'(n_req_beats) + R - 1) >> LR);
    assign n_rsp_valid = w_rsp_valid && (left != 0);
    assign n_rsp_data = w_rsp_data[64*sub+:64];
    // the wide word goes when its last wanted part does
    assign w_rsp_ready = (left != 0) && n_rsp_ready && ((32'(sub) == R - 1) || (left == 16'd1));
    logic unused;
    assign unused = ^n_req_addr[2:0];   // 64-bit words: 8-byte aligned
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        sub <= '0;
        left <= '0;
      end else if (n_req_valid && w_req_ready) begin
        sub <= off;
        left <= n_req_beats;
      end else if (n_rsp_valid && n_rsp_ready) begin
        sub <= sub + 1'b1;
        left <= left - 1'b1;
      end
    end
  end
endmodule
