// Sequential unsigned divider: quotient = floor(num / den) for den > 0, BITS quotient bits
// per cycle (restoring division, W / BITS cycles after `start`). `done` pulses with the
// result held in `quot` until the next start.
module udiv #(
    parameter int W = 48,
    parameter int BITS = 1      // quotient bits per cycle; divides W
) (
    input  logic         clk,
    input  logic         rst_n,
    input  logic         start,
    input  logic [W-1:0] num,
    input  logic [W-1:0] den,
    output logic [W-1:0] quot,
    output logic         busy,
    output logic         done
);
  localparam int STEPS = W / BITS;
  localparam int SW = $clog2(STEPS + 1);
  logic [W-1:0] n_sh, d, rem;
  logic [SW-1:0] step;

  // BITS restoring steps of the current cycle
  logic [W-1:0] rem_next, quot_next, n_next;
  always_comb begin
    rem_next = rem;
    quot_next = quot;
    n_next = n_sh;
    for (int b = 0; b < BITS; b++) begin
      logic [W:0] trial;
      trial = {rem_next, n_next[W-1]};
      n_next = n_next << 1;
      if (trial >= {1'b0, d}) begin
        rem_next = W'(trial - {1'b0, d});
        quot_next = {quot_next[W-2:0], 1'b1};
      end else begin
        rem_next = trial[W-1:0];
        quot_next = {quot_next[W-2:0], 1'b0};
      end
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      busy <= 1'b0;
      done <= 1'b0;
      quot <= '0;
      n_sh <= '0;
      d <= '0;
      rem <= '0;
      step <= '0;
    end else begin
      done <= 1'b0;
      if (start) begin
        busy <= 1'b1;
        n_sh <= num;
        d <= den;
        rem <= '0;
        quot <= '0;
        step <= '0;
      end else if (busy) begin
        n_sh <= n_next;
        rem <= rem_next;
        quot <= quot_next;
        if (step == SW'(STEPS - 1)) begin
          busy <= 1'b0;
          done <= 1'b1;
        end
        step <= step + 1'b1;
      end
    end
  end
endmodule
