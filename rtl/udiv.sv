// Sequential unsigned divider: quotient = floor(num / den) for den > 0, one bit per cycle
// (W cycles after `start`). `done` pulses with the result held in `quot` until the next start.
module udiv #(
    parameter int W = 48
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
  logic [W-1:0] n_sh, d, rem;
  logic [$clog2(W+1)-1:0] step;

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
        logic [W:0] trial;
        trial = {rem, n_sh[W-1]};
        n_sh <= n_sh << 1;
        if (trial >= {1'b0, d}) begin
          rem <= W'(trial - {1'b0, d});
          quot <= {quot[W-2:0], 1'b1};
        end else begin
          rem <= trial[W-1:0];
          quot <= {quot[W-2:0], 1'b0};
        end
        if (step == ($clog2(W+1))'(W - 1)) begin
          busy <= 1'b0;
          done <= 1'b1;
        end
        step <= step + 1'b1;
      end
    end
  end
endmodule
