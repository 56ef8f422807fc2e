// Simulation model of the burst read port (not synthesizable): 64-bit words loaded from the
// $readmemh file named by +mem=, one burst at a time, `latency` cycles to its first word,
// request and response handshakes held off while `stall_req` / `stall_rsp` are high. A
// reset forgets the burst in flight. `latency` is 32 bits wide: it carries the full range of
// the +latency plusarg (rtl/cosim.py bounds it at MAX_MEM_LATENCY). Used by the whole-model and the engine harnesses.
module sim_memory #(
    parameter int WORDS = 1 << 20
) (
    input  logic        clk,
    input  logic        rst_n,
    input  logic        stall_req,
    input  logic        stall_rsp,
    input  logic [31:0] latency,
    input  logic        mem_req_valid,
    output logic        mem_req_ready,
    input  logic [31:0] mem_req_addr,
    input  logic [15:0] mem_req_beats,
    output logic        mem_rsp_valid,
    input  logic        mem_rsp_ready,
    output logic [63:0] mem_rsp_data
);
  localparam int MI = $clog2(WORDS);

  logic [63:0] mem[WORDS];
  string mem_file;
  initial if ($value$plusargs("mem=%s", mem_file)) $readmemh(mem_file, mem);

  logic [MI-1:0] raddr;
  logic [15:0] remaining;
  logic [31:0] wait_cycles;
  assign mem_req_ready = (remaining == 0) && !stall_req;
  assign mem_rsp_valid = (remaining != 0) && (wait_cycles == 0) && !stall_rsp;
  assign mem_rsp_data = mem[raddr];
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      remaining <= '0;
      wait_cycles <= '0;
      raddr <= '0;
    end else if (mem_req_valid && mem_req_ready) begin
      raddr <= MI'(mem_req_addr >> 3);
      remaining <= mem_req_beats;
      wait_cycles <= latency;
    end else if (remaining != 0) begin
      if (wait_cycles != 0) wait_cycles <= wait_cycles - 1'b1;
      else if (mem_rsp_valid && mem_rsp_ready) begin
        raddr <= raddr + 1'b1;
        remaining <= remaining - 1'b1;
      end
    end
  end

  logic unused;
  assign unused = ^mem_req_addr[2:0];
endmodule
