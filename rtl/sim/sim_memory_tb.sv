// Self-checking-by-report bench of sim_memory (not synthesizable): one burst of +beats=B
// words requested at +addr=A with +latency=L; prints "FIRST <cycles from the request
// handshake to the first response word>" and "DATA <hex>" per word, then finishes.
// rtl_tests/test_rtl_model.py runs it on Icarus to check that every latency the harness
// accepts reaches the memory model whole (issue: 16-bit truncation of +latency).
// Parameters BEAT / BPC (iverilog -P): the word width and the bandwidth cap; "LAST <cycles
// from the request to the last word>" shows the cap (a word per ceil(BEAT / 8 / BPC) cycles).
module sim_memory_tb #(
    parameter int BEAT = 64,
    parameter int BPC = 16
);
  logic clk = 1'b0, rst_n = 1'b0;
  always #5 clk = ~clk;
  initial #20 rst_n = 1'b1;

  int latency, beats, addr, cycle, first, got;
  initial begin
    if (!$value$plusargs("latency=%d", latency)) latency = 0;
    if (!$value$plusargs("beats=%d", beats)) beats = 2;
    if (!$value$plusargs("addr=%d", addr)) addr = 0;
  end

  logic req_valid, req_ready, rsp_valid;
  logic [BEAT-1:0] rsp_data;
  sim_memory #(.WORDS(1 << 10), .BEAT(BEAT), .BYTES_PER_CYCLE(BPC)) u_mem (
      .clk, .rst_n, .stall_req(1'b0), .stall_rsp(1'b0), .latency(32'(latency)),
      .mem_req_valid(req_valid), .mem_req_ready(req_ready), .mem_req_addr(32'(addr)),
      .mem_req_beats(16'(beats)), .mem_rsp_valid(rsp_valid), .mem_rsp_ready(1'b1),
      .mem_rsp_data(rsp_data));

  logic sent;
  assign req_valid = rst_n && !sent;
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      sent <= 1'b0;
      cycle <= 0;
      first <= -1;
      got <= 0;
    end else begin
      cycle <= cycle + 1;
      if (req_valid && req_ready) begin
        sent <= 1'b1;
        cycle <= 0;
      end
      if (rsp_valid) begin
        if (first < 0) begin
          first <= cycle;
          $display("FIRST %0d", cycle);
        end
        $display("DATA %0h", rsp_data);
        got <= got + 1;
        if (got + 1 == beats) begin
          $display("LAST %0d", cycle);
          $finish;
        end
      end
    end
  end
endmodule
