// Engine `layernorm`: integer LayerNorm of n_rows rows of `dim` int8 values
// (docs/numerics.md). gamma (int8, weight memory) and beta (int32, bias memory) are fetched
// once per tensor through the 64-bit ready/valid burst read port. Per row: load (sum),
// variance (BEAT / 8 elements per cycle), v / dim and 2^32 / den on the sequential `udiv`
// (8 quotient bits per cycle), floor isqrt (19 steps), output (BEAT / 8 per cycle).
module layernorm
#(
    parameter int MAX_D = 768,
    parameter int BEAT = 64        // stream beat bits (the read port stays 64-bit)
) (
    input  logic                 clk,
    input  logic                 rst_n,
    // configuration, stable while a tensor streams
    input  logic [15:0]          dim,         // multiple of 8, <= MAX_D
    input  logic [15:0]          n_rows,
    input  logic [31:0]          gamma_addr,  // byte addresses, 8-byte aligned
    input  logic [31:0]          beta_addr,
    input  logic signed [7:0]    gamma_frac,
    input  logic signed [7:0]    frac_out,
    // burst read port: a request (address, beats), then that many 64-bit words
    output logic                 mem_req_valid,
    input  logic                 mem_req_ready,
    output logic [31:0]          mem_req_addr,
    output logic [15:0]          mem_req_beats,
    input  logic                 mem_rsp_valid,
    output logic                 mem_rsp_ready,
    input  logic [sievit_pkg::BEAT_BITS-1:0] mem_rsp_data,
    // rows in and out
    input  logic [BEAT-1:0] s_axis_tdata,
    input  logic                 s_axis_tvalid,
    output logic                 s_axis_tready,
    input  logic                 s_axis_tlast,
    output logic [BEAT-1:0] m_axis_tdata,
    output logic                 m_axis_tvalid,
    input  logic                 m_axis_tready,
    output logic                 m_axis_tlast
);
  import sievit_pkg::*;
  localparam int B8 = BEAT / 8;   // int8 elements per stream beat

  localparam int DW = $clog2(MAX_D + B8);

  typedef enum logic [3:0] {IDLE, REQ_G, GET_G, REQ_B, GET_B, LOAD, VAR, VDIV, SQRT, DIV, OUT} state_t;
  state_t state;

  logic signed [7:0] q[MAX_D];
  logic signed [7:0] gamma[MAX_D];
  logic signed [31:0] beta[MAX_D];
  logic [DW-1:0] beat;          // beat counter within the current phase
  logic [15:0] row;
  logic signed [31:0] s1;       // sum of the row
  logic [63:0] v;               // sum of squared centred values
  logic [63:0] sq_rem, sq_root; // isqrt state
  logic [5:0] step;
  // one divider, used twice per row: floor(v / dim), then floor(2^32 / max(isqrt, 1))
  logic div_start, div_done, div_busy;
  logic [47:0] div_num, div_den;   // v < 2^48 for dim <= 768
  /* verilator lint_off UNUSEDSIGNAL */
  logic [47:0] div_q;
  /* verilator lint_on UNUSEDSIGNAL */
  wire [32:0] recip = div_q[32:0];

  udiv #(.W(48), .BITS(8)) u_div (.clk, .rst_n, .start(div_start), .num(div_num), .den(div_den),
                        .quot(div_q), .busy(div_busy), .done(div_done));

  wire [DW-1:0] row_beats = DW'(dim / 16'(B8));              // stream beats per row
  wire [DW-1:0] gamma_beats = DW'(dim / 16'(I8_PER_BEAT));   // read-port words
  wire [DW-1:0] beta_beats = DW'(dim / 16'(I32_PER_BEAT));

  // variance: 8 centred squares per cycle
  logic [63:0] var_part;
  always_comb begin
    var_part = '0;
    for (int l = 0; l < B8; l++) begin
      logic signed [19:0] c;   // |dim * q - s1| <= 2 * 1024 * 128 = 2^18
      c = 20'(20'($signed({1'b0, dim[10:0]})) * 20'(q[32'(beat) * B8 + l]) - 20'(s1));
      var_part = var_part + 64'(40'(c) * 40'(c));
    end
  end

  // output beat: 8 normalised, scaled, shifted, requantized values
  logic [BEAT-1:0] out_word;
  always_comb begin
    for (int l = 0; l < B8; l++) begin
      logic signed [19:0] c;
      logic signed [53:0] cr;  // c * recip: |c| < 2^18 (20-bit signed), recip <= 2^32
      logic signed [63:0] y;
      /* verilator lint_off UNUSEDSIGNAL */
      logic signed [63:0] nrm_w;
      /* verilator lint_on UNUSEDSIGNAL */
      logic signed [23:0] nrm; // |c| <= sqrt(v) and recip <= 2^33 / sqrt(v / dim): |nrm| < 2^15
      /* verilator lint_off UNUSEDSIGNAL */
      int k;  // element index: only its low bits address the row
      /* verilator lint_on UNUSEDSIGNAL */
      k = 32'(beat) * B8 + l;
      c = 20'(20'($signed({1'b0, dim[10:0]})) * 20'(q[k]) - 20'(s1));
      cr = 54'(c) * 54'($signed({1'b0, recip}));
      nrm_w = rshift_rne(64'(cr), 24);
      nrm = nrm_w[23:0];
      y = 64'(32'(nrm) * 32'(gamma[k])) + 64'(beta[k]);
      out_word[8*l+:8] = requant(y, 8 + 32'(gamma_frac), 32'(frac_out));
    end
  end

  assign mem_req_valid = (state == REQ_G) || (state == REQ_B);
  assign mem_req_addr = (state == REQ_G) ? gamma_addr : beta_addr;
  assign mem_req_beats = (state == REQ_G) ? 16'(gamma_beats) : 16'(beta_beats);
  assign mem_rsp_ready = (state == GET_G) || (state == GET_B);
  assign s_axis_tready = (state == LOAD);
  assign m_axis_tvalid = (state == OUT);
  assign m_axis_tdata = out_word;
  assign m_axis_tlast = (state == OUT) && (beat == row_beats - 1'b1) && (row == n_rows - 1'b1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= IDLE;
      beat <= '0;
      row <= '0;
      s1 <= '0;
      v <= '0;
      sq_rem <= '0;
      sq_root <= '0;
      step <= '0;
      div_start <= 1'b0;
      div_num <= '0;
      div_den <= '0;
    end else begin
      div_start <= 1'b0;
      unique case (state)
        IDLE: if (s_axis_tvalid) begin
          state <= REQ_G;
          row <= '0;
        end
        REQ_G: if (mem_req_ready) begin
          state <= GET_G;
          beat <= '0;
        end
        GET_G: if (mem_rsp_valid) begin
          for (int l = 0; l < I8_PER_BEAT; l++) gamma[32'(beat) * I8_PER_BEAT + l] <= mem_rsp_data[8*l+:8];
          if (beat == gamma_beats - 1'b1) state <= REQ_B;
          beat <= (beat == gamma_beats - 1'b1) ? '0 : beat + 1'b1;
        end
        REQ_B: if (mem_req_ready) begin
          state <= GET_B;
          beat <= '0;
        end
        GET_B: if (mem_rsp_valid) begin
          for (int l = 0; l < I32_PER_BEAT; l++) beta[32'(beat) * I32_PER_BEAT + l] <= mem_rsp_data[32*l+:32];
          if (beat == beta_beats - 1'b1) begin
            state <= LOAD;
            s1 <= '0;
          end
          beat <= (beat == beta_beats - 1'b1) ? '0 : beat + 1'b1;
        end
        LOAD: if (s_axis_tvalid) begin
          logic signed [31:0] s;
          s = s1;
          for (int l = 0; l < B8; l++) begin
            q[32'(beat) * B8 + l] <= s_axis_tdata[8*l+:8];
            s = s + $signed({{24{s_axis_tdata[8*l+7]}}, s_axis_tdata[8*l+:8]});
          end
          s1 <= s;
          if (beat == row_beats - 1'b1) begin
            state <= VAR;
            v <= '0;
          end
          beat <= (beat == row_beats - 1'b1) ? '0 : beat + 1'b1;
        end
        VAR: begin
          v <= v + var_part;
          if (beat == row_beats - 1'b1) begin
            state <= VDIV;
            div_num <= 48'(v + var_part);
            div_den <= 48'(dim);
            div_start <= 1'b1;
          end
          beat <= (beat == row_beats - 1'b1) ? '0 : beat + 1'b1;
        end
        VDIV: if (div_done) begin
          state <= SQRT;
          sq_rem <= 64'(div_q);
          sq_root <= '0;
          step <= 6'd18;   // v / dim is a mean of c^2 < 2^36 < 4^19: bit pairs 18..0
        end
        SQRT: begin  // restoring square root, bit pairs 18..0
          logic [63:0] trial, root;
          trial = sq_root + (64'd1 << (2 * step));
          if (sq_rem >= trial) begin
            sq_rem <= sq_rem - trial;
            root = (sq_root >> 1) + (64'd1 << (2 * step));
          end else begin
            root = sq_root >> 1;
          end
          sq_root <= root;
          if (step == 6'd0) begin
            state <= DIV;
            div_num <= 48'd1 << 32;
            div_den <= (root == 0) ? 48'd1 : 48'(root);
            div_start <= 1'b1;
          end else begin
            step <= step - 1'b1;
          end
        end
        DIV: if (div_done) begin
          state <= OUT;
          beat <= '0;
        end
        OUT: if (m_axis_tready) begin
          if (beat == row_beats - 1'b1) begin
            beat <= '0;
            if (row == n_rows - 1'b1) begin
              state <= IDLE;
            end else begin
              row <= row + 1'b1;
              state <= LOAD;
              s1 <= '0;
            end
          end else begin
            beat <= beat + 1'b1;
          end
        end
        default: state <= IDLE;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ div_busy;
endmodule
