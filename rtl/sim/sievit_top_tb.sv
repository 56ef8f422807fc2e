// Simulation harness of sievit_top (not synthesizable): the weight/program memory behind the
// burst read port (latency and random stalls), the image stream, and the result sink. It runs
// +n_images images back to back and writes every result beat ("R <hex>") and each image's
// cycle counters ("P total attention mlp pruning layernorm other") to +out. The clock and
// reset are generated here (a cocotb-driven clock costs two VPI callbacks per cycle); cocotb
// watches `finished` / `images_done` (rtl/bench.py).
//
// Plusargs besides the files: +stall=P (0..90) stalls every handshake P % of cycles: the
// memory request and response, the image and result streams, and (sievit_top's SIM_STALL
// input) the streams between the top's buffers and its engines, those internal streams
// +stall_internal=Q % instead where given; +latency=L (>= 0, 32 bits)
// cycles from a memory request to its first word; +reset_image=I +reset_cycle=C pulses the
// reset of the top and the memory C cycles after image I started, writes "X <cycle>" for the
// aborted image (its partial result beats are void) and goes on with image I+1.
// +trace_writes=FILE logs every beat an engine hands to the top's buffers or result stream,
// "W <pc> <opcode> <sink> <segment> <count> <hex>" (rtl/localize.py reads it).
module sievit_top_tb #(
    parameter int MAX_N = 64,
    parameter int MAX_D = 128,
    parameter int MAX_H = 256,
    parameter int MAX_IN = 64,
    parameter int MAX_PIX = 1024,
    parameter int MAX_CLASSES = 16,
    parameter int MEM_WORDS = 1 << 20,
    parameter int ROWS = 2,
    parameter int COLS = 8,
    parameter int QK_KEYS = 8,
    parameter int AV_KEYS = 8,
    parameter int EXP_LANES = 8,
    parameter int AUX_ROWS = 2,
    parameter int AUX_COLS = 8,
    parameter int LANES = 8,
    parameter int SIM_LANES = 8,          // ToMe's merge: unit-key products per A row per cycle
    parameter int SIM_ROWS = 1,           //   and A rows per cycle
    parameter int MAX_DH = 64,            // head width (ToMe's unit keys)
    parameter int BEAT = 64,              // read-port and activation-stream beat bits
    parameter int MEM_BYTES_PER_CYCLE = 16,   // the memory model's bandwidth cap
    parameter int IMG_WORDS = 1 << 20
) (
    // the only signals cocotb reads; the build turns Verilator's blanket --public-flat-rw
    // off (3x faster), so they are made public here
    output logic        finished     /* verilator public_flat_rw */,
    output logic [31:0] images_done  /* verilator public_flat_rw */
);
  localparam int MAX_STALL_PCT = 90;   // 100 % would never hand a beat over
  localparam int RESET_CYCLES = 4;

  logic clk = 1'b0, por_n = 1'b0, rst_pulse;
  always #5 clk = ~clk;
  initial #40 por_n = 1'b1;
  wire rst_n = por_n && !rst_pulse;   // power-on reset, or the +reset_cycle pulse
  localparam int II = $clog2(IMG_WORDS);

  logic [63:0] img[IMG_WORDS];
  string mem_file, img_file, out_file;  // +mem is read by sim_memory
  int n_images, img_beats, prog_addr, stall_pct, stall_int_pct, latency, reset_image, reset_cycle;
  int fd;

  initial begin
    if (!$value$plusargs("mem=%s", mem_file) || !$value$plusargs("images=%s", img_file) ||
        !$value$plusargs("out=%s", out_file) || !$value$plusargs("n_images=%d", n_images) ||
        !$value$plusargs("img_beats=%d", img_beats) || !$value$plusargs("prog_addr=%d", prog_addr))
      $fatal(1, "sievit_top_tb: missing plusargs (+mem +images +out +n_images +img_beats +prog_addr)");
    if (!$value$plusargs("stall=%d", stall_pct)) stall_pct = 0;
    if (!$value$plusargs("stall_internal=%d", stall_int_pct)) stall_int_pct = stall_pct;
    if (!$value$plusargs("latency=%d", latency)) latency = 0;
    if (!$value$plusargs("reset_image=%d", reset_image)) reset_image = -1;
    if (!$value$plusargs("reset_cycle=%d", reset_cycle)) reset_cycle = 0;
    if (stall_pct < 0 || stall_pct > MAX_STALL_PCT)
      $fatal(1, "sievit_top_tb: +stall=%0d outside 0..%0d", stall_pct, MAX_STALL_PCT);
    if (stall_int_pct < 0 || stall_int_pct > MAX_STALL_PCT)
      $fatal(1, "sievit_top_tb: +stall_internal=%0d outside 0..%0d", stall_int_pct, MAX_STALL_PCT);
    if (latency < 0) $fatal(1, "sievit_top_tb: +latency=%0d is negative", latency);
    $readmemh(img_file, img);
    fd = $fopen(out_file, "w");
  end

  logic start, busy, done;
  logic mem_req_valid, mem_req_ready, mem_rsp_valid, mem_rsp_ready;
  logic [31:0] mem_req_addr;
  logic [15:0] mem_req_beats;
  logic [BEAT-1:0] mem_rsp_data;
  logic [63:0] s_tdata, m_tdata;
  logic s_tvalid, s_tready, s_tlast, m_tvalid, m_tready, m_tlast;
  logic [31:0] cycles_total;
  logic [4:0][31:0] cycles_phase;

  // random stalls: one draw per cycle and interface (memory request, response, image
  // stream, result stream, buffers -> engine, engine -> buffers)
  logic [5:0] stall;
  always_ff @(posedge clk) begin
    for (int i = 0; i < 6; i++) stall[i] <= ($urandom % 100) < ((i < 4) ? stall_pct : stall_int_pct);
  end

  sievit_top #(.MAX_N(MAX_N), .MAX_D(MAX_D), .MAX_H(MAX_H), .MAX_IN(MAX_IN), .MAX_PIX(MAX_PIX),
               .MAX_CLASSES(MAX_CLASSES), .ROWS(ROWS), .COLS(COLS), .QK_KEYS(QK_KEYS),
               .AV_KEYS(AV_KEYS), .EXP_LANES(EXP_LANES), .AUX_ROWS(AUX_ROWS), .AUX_COLS(AUX_COLS), .LANES(LANES), .BEAT(BEAT),
               .SIM_LANES(SIM_LANES), .SIM_ROWS(SIM_ROWS), .MAX_DH(MAX_DH), .SIM_STALL(1)) dut (
      .clk, .rst_n, .start, .prog_addr(32'(prog_addr)), .busy, .done,
      .mem_req_valid, .mem_req_ready, .mem_req_addr, .mem_req_beats,
      .mem_rsp_valid, .mem_rsp_ready, .mem_rsp_data,
      .s_axis_tdata(s_tdata), .s_axis_tvalid(s_tvalid), .s_axis_tready(s_tready),
      .s_axis_tlast(s_tlast),
      .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready),
      .m_axis_tlast(m_tlast), .cycles_total, .cycles_phase, .stall_internal(stall[5:4]));

  sim_memory #(.WORDS(MEM_WORDS), .BEAT(BEAT), .BYTES_PER_CYCLE(MEM_BYTES_PER_CYCLE)) u_mem (
      .clk, .rst_n, .stall_req(stall[0]), .stall_rsp(stall[1]), .latency(32'(latency)),
      .mem_req_valid, .mem_req_ready, .mem_req_addr, .mem_req_beats,
      .mem_rsp_valid, .mem_rsp_ready, .mem_rsp_data);

  // +trace_writes: the engines' output beats, to find the first descriptor that differs
  string trace_file;
  int tfd = 0;
  initial if ($value$plusargs("trace_writes=%s", trace_file)) tfd = $fopen(trace_file, "w");
  always_ff @(posedge clk) begin
    if (tfd != 0 && dut.snk_fire)
      $fwrite(tfd, "W %0d %0d %0d %0d %0d %h\n", dut.nx_pc, dut.op, dut.cur_snk, dut.snk_seg,
              dut.snk_cnt, dut.e_out_data);
  end

  // images in, results out, one image at a time
  typedef enum logic [2:0] {T_START, T_RUN, T_WAIT, T_RESET, T_FIN} tstate_t;
  tstate_t ts;
  int beat, run_cycles, rst_cnt;
  assign start = (ts == T_START);
  assign s_tvalid = (ts == T_RUN) && (beat < img_beats) && !stall[2];
  assign s_tdata = img[II'(images_done * 32'(img_beats) + 32'(beat))];
  assign s_tlast = (beat == img_beats - 1);
  assign m_tready = (ts == T_RUN) && !stall[3];
  assign finished = (ts == T_FIN);
  wire last_image = (32'(images_done) + 1 == 32'(n_images));
  wire reset_now = (ts == T_RUN || ts == T_WAIT) && (32'(images_done) == 32'(reset_image)) &&
                   (run_cycles == reset_cycle);

  always_ff @(posedge clk) begin
    if (!por_n) begin
      ts <= (n_images > 0) ? T_START : T_FIN;
      beat <= 0;
      run_cycles <= 0;
      rst_cnt <= 0;
      rst_pulse <= 1'b0;
      images_done <= '0;
    end else if (reset_now) begin
      rst_pulse <= 1'b1;
      rst_cnt <= 0;
      ts <= T_RESET;
    end else begin
      if (ts == T_RUN || ts == T_WAIT) run_cycles <= run_cycles + 1;
      unique case (ts)
        T_START: if (!busy) begin
          ts <= T_RUN;
          run_cycles <= 0;
        end
        T_RUN: begin
          if (s_tvalid && s_tready) beat <= beat + 1;
          if (m_tvalid && m_tready) begin
            $fwrite(fd, "R %016x\n", m_tdata);
            if (m_tlast) ts <= T_WAIT;
          end
        end
        T_WAIT: if (done) begin
          $fwrite(fd, "P %0d %0d %0d %0d %0d %0d\n", cycles_total, cycles_phase[0],
                  cycles_phase[1], cycles_phase[2], cycles_phase[3], cycles_phase[4]);
          $fflush(fd);
          if (tfd != 0) $fflush(tfd);
          beat <= 0;
          images_done <= images_done + 1'b1;
          ts <= last_image ? T_FIN : T_START;
        end
        T_RESET: begin
          rst_cnt <= rst_cnt + 1;
          if (rst_cnt == RESET_CYCLES - 1) begin
            rst_pulse <= 1'b0;
            $fwrite(fd, "X %0d\n", run_cycles);
            $fflush(fd);
            beat <= 0;
            images_done <= images_done + 1'b1;
            ts <= last_image ? T_FIN : T_START;
          end
        end
        default: ;
      endcase
    end
  end
endmodule
