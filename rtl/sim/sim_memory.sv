// Simulation model of the burst read port (not synthesizable): BEAT-bit words loaded from
// the $readmemh file named by +mem=, one burst at a time, `latency` cycles to its first word,
// then at most BYTES_PER_CYCLE bytes per cycle (a DDR port's bandwidth: a BEAT-bit word
// every BEAT / 8 / BYTES_PER_CYCLE cycles when that is more than one), request and response
// handshakes held off while `stall_req` / `stall_rsp` are high. A reset forgets the burst in
// flight. `latency` is 32 bits wide: it carries the full range of the +latency plusarg
// (rtl/cosim.py bounds it at MAX_MEM_LATENCY). Used by the whole-model and the engine harnesses.
module sim_memory #(
    parameter int WORDS = 1 << 20,
    parameter int BEAT = 64,             // word bits
    parameter int BYTES_PER_CYCLE = 16   // bandwidth cap
) (
    input  logic            clk,
    input  logic            rst_n,
    input  logic            stall_req,
    input  logic            stall_rsp,
    input  logic [31:0]     latency,
    input  logic            mem_req_valid,
    output logic            mem_req_ready,
    input  logic [31:0]     mem_req_addr,
    input  logic [15:0]     mem_req_beats,
    output logic            mem_rsp_valid,
    input  logic            mem_rsp_ready,
    output logic [BEAT-1:0] mem_rsp_data
);
  localparam int MI = $clog2(WORDS);
  localparam int BB = BEAT / 8;          // bytes per word
  localparam int LB = $clog2(BB);
  localparam int CI = $clog2(BB + BYTES_PER_CYCLE + 1);

  logic [BEAT-1:0] mem[WORDS];
  string mem_file;
  initial if ($value$plusargs("mem=%s", mem_file)) $readmemh(mem_file, mem);

  logic [MI-1:0] raddr;
  logic [15:0] remaining;
  logic [31:0] wait_cycles;
  logic [CI-1:0] credit;                 // bytes the port may deliver (at most one word)
  wire fire = mem_rsp_valid && mem_rsp_ready;
  wire [CI-1:0] credit_add = credit - (fire ? CI'(BB) : '0) + CI'(BYTES_PER_CYCLE);
  assign mem_req_ready = (remaining == 0) && !stall_req;
  assign mem_rsp_valid = (remaining != 0) && (wait_cycles == 0) && (credit >= CI'(BB)) &&
                         !stall_rsp;
  assign mem_rsp_data = mem[raddr];
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      remaining <= '0;
      wait_cycles <= '0;
      raddr <= '0;
      credit <= CI'(BB);
    end else begin
      credit <= (credit_add > CI'(BB)) ? CI'(BB) : credit_add;
      if (mem_req_valid && mem_req_ready) begin
        raddr <= MI'(mem_req_addr >> LB);
        remaining <= mem_req_beats;
        wait_cycles <= latency;
      end else if (remaining != 0) begin
        if (wait_cycles != 0) wait_cycles <= wait_cycles - 1'b1;
        else if (fire) begin
          raddr <= raddr + 1'b1;
          remaining <= remaining - 1'b1;
        end
      end
    end
  end

  logic unused;
  assign unused = ^mem_req_addr[LB-1:0];
endmodule
