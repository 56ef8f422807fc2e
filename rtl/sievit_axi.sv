// AXI IP around the whole-model top `sievit_top`: AXI4-Lite control/status registers
// (sievit_regs_pkg, generated from rtl/regmap.py; docs/ip.md) and one AXI4 master that
//  - serves the core's burst read port (program descriptors, weights, biases),
//  - reads each image from memory into the core's image stream,
//  - writes each image's result stream and a header of cycle counters into a result slot.
// Every address the core or the registers name is an offset from MEM_BASE. A START runs
// NUM_IMAGES images back to back. Reads are issued only while the reader's FIFO has room for
// the whole burst, so R is never held off (RREADY stays high) and a stalled consumer cannot
// block the other reader; writes issue AW only once the burst's data sits in the W FIFO.
// Bursts are INCR, at most MAX_BURST beats, and never cross a 4 KiB boundary.
/* verilator lint_off DECLFILENAME */  // helper modules of the IP live in this file
module sievit_axi #(
    parameter int DATA_WIDTH = 64,    // m_axi data width: 64, 128, 256 or 512
    parameter int ADDR_WIDTH = 32,    // m_axi address width (32..64)
    parameter int ID_WIDTH = 1,
    parameter int MAX_BURST = 64,     // beats per burst, 2..256
    parameter int RD_DEPTH = 512,     // weight read FIFO, in DATA_WIDTH words (>= MAX_BURST)
    parameter int IMG_DEPTH = 128,    // image read FIFO (>= MAX_BURST)
    parameter int LANES = 8,          // sievit_top's parameters, passed through
    parameter int ROWS = 2,
    parameter int COLS = 8,
    parameter int QK_KEYS = 8,
    parameter int AV_KEYS = 8,
    parameter int EXP_LANES = 8,
    parameter int AUX_ROWS = 2,
    parameter int AUX_COLS = 8,
    parameter int MAX_N = 64,
    parameter int MAX_D = 128,
    parameter int MAX_H = 256,
    parameter int MAX_IN = 64,
    parameter int MAX_PIX = 1024,
    parameter int MAX_CLASSES = 16,
    parameter int MAX_DH = 64,        // head width (ToMe's unit keys)
    parameter int SIM_LANES = 8,      // ToMe's merge: unit-key products per A row per cycle
    parameter int SIM_ROWS = 1,       //   and A rows per cycle
    parameter int BEAT = 64           // sievit_top's read-port / stream beat: the IP's read
                                      //   path feeds 64-bit words, so 64 only (for now)
) (
    input  logic                    aclk,
    input  logic                    aresetn,
    output logic                    irq,          // level: STATUS.DONE while CTRL.IRQ_EN
    // AXI4-Lite slave: registers
    input  logic [7:0]              s_axi_ctrl_awaddr,
    input  logic [2:0]              s_axi_ctrl_awprot,
    input  logic                    s_axi_ctrl_awvalid,
    output logic                    s_axi_ctrl_awready,
    input  logic [31:0]             s_axi_ctrl_wdata,
    input  logic [3:0]              s_axi_ctrl_wstrb,
    input  logic                    s_axi_ctrl_wvalid,
    output logic                    s_axi_ctrl_wready,
    output logic [1:0]              s_axi_ctrl_bresp,
    output logic                    s_axi_ctrl_bvalid,
    input  logic                    s_axi_ctrl_bready,
    input  logic [7:0]              s_axi_ctrl_araddr,
    input  logic [2:0]              s_axi_ctrl_arprot,
    input  logic                    s_axi_ctrl_arvalid,
    output logic                    s_axi_ctrl_arready,
    output logic [31:0]             s_axi_ctrl_rdata,
    output logic [1:0]              s_axi_ctrl_rresp,
    output logic                    s_axi_ctrl_rvalid,
    input  logic                    s_axi_ctrl_rready,
    // AXI4 master: memory
    output logic [ID_WIDTH-1:0]     m_axi_awid,
    output logic [ADDR_WIDTH-1:0]   m_axi_awaddr,
    output logic [7:0]              m_axi_awlen,
    output logic [2:0]              m_axi_awsize,
    output logic [1:0]              m_axi_awburst,
    output logic                    m_axi_awlock,
    output logic [3:0]              m_axi_awcache,
    output logic [2:0]              m_axi_awprot,
    output logic [3:0]              m_axi_awqos,
    output logic                    m_axi_awvalid,
    input  logic                    m_axi_awready,
    output logic [DATA_WIDTH-1:0]   m_axi_wdata,
    output logic [DATA_WIDTH/8-1:0] m_axi_wstrb,
    output logic                    m_axi_wlast,
    output logic                    m_axi_wvalid,
    input  logic                    m_axi_wready,
    input  logic [ID_WIDTH-1:0]     m_axi_bid,
    input  logic [1:0]              m_axi_bresp,
    input  logic                    m_axi_bvalid,
    output logic                    m_axi_bready,
    output logic [ID_WIDTH-1:0]     m_axi_arid,
    output logic [ADDR_WIDTH-1:0]   m_axi_araddr,
    output logic [7:0]              m_axi_arlen,
    output logic [2:0]              m_axi_arsize,
    output logic [1:0]              m_axi_arburst,
    output logic                    m_axi_arlock,
    output logic [3:0]              m_axi_arcache,
    output logic [2:0]              m_axi_arprot,
    output logic [3:0]              m_axi_arqos,
    output logic                    m_axi_arvalid,
    input  logic                    m_axi_arready,
    input  logic [ID_WIDTH-1:0]     m_axi_rid,
    input  logic [DATA_WIDTH-1:0]   m_axi_rdata,
    input  logic [1:0]              m_axi_rresp,
    input  logic                    m_axi_rlast,
    input  logic                    m_axi_rvalid,
    output logic                    m_axi_rready
);
  import sievit_regs_pkg::*;

  localparam int AW = ADDR_WIDTH;
  localparam logic [2:0] AXSIZE = 3'($clog2(DATA_WIDTH / 8));
  localparam int TAGS = 16;          // read bursts in flight

  // ---------------------------------------------------------------- registers
  logic [31:0] mem_base_lo, mem_base_hi, prog_addr, image_addr, image_bytes, result_addr;
  logic [31:0] result_stride, num_images, images_done;
  logic [63:0] batch_cycles;
  logic irq_en, done_q, err_q;
  logic cmd_start, cmd_reset;

  logic core_busy, core_done;
  logic [31:0] core_cycles;
  logic [4:0][31:0] core_phase;

  typedef enum logic [2:0] {B_IDLE, B_LAUNCH, B_RUN, B_HDR, B_HWAIT, B_DRAIN} bstate_t;
  bstate_t bs;
  wire busy = (bs != B_IDLE);

  // AXI4-Lite write: address and data may arrive in either order; one write at a time
  logic aw_hold, w_hold;
  logic [7:0] aw_q;
  logic [31:0] wd_q;
  logic [3:0] ws_q;
  assign s_axi_ctrl_awready = !aw_hold && !s_axi_ctrl_bvalid;
  assign s_axi_ctrl_wready = !w_hold && !s_axi_ctrl_bvalid;
  assign s_axi_ctrl_bresp = 2'b00;
  wire [7:0] wa = aw_hold ? aw_q : s_axi_ctrl_awaddr;
  wire [31:0] wd = w_hold ? wd_q : s_axi_ctrl_wdata;
  wire [3:0] ws = w_hold ? ws_q : s_axi_ctrl_wstrb;
  wire aw_ok = aw_hold || (s_axi_ctrl_awvalid && s_axi_ctrl_awready);
  wire w_ok = w_hold || (s_axi_ctrl_wvalid && s_axi_ctrl_wready);
  wire do_write = aw_ok && w_ok && !s_axi_ctrl_bvalid;
  wire [7:0] wreg = {wa[7:2], 2'b00};

  function automatic logic [31:0] merge(input logic [31:0] old, input logic [31:0] val,
                                        input logic [3:0] strb);
    for (int b = 0; b < 4; b++) merge[8 * b +: 8] = strb[b] ? val[8 * b +: 8] : old[8 * b +: 8];
  endfunction

  logic rst_int;   // internal reset at the end of a soft reset's drain
  always_ff @(posedge aclk) begin
    if (!aresetn) begin
      aw_hold <= 1'b0;
      w_hold <= 1'b0;
      aw_q <= '0;
      wd_q <= '0;
      ws_q <= '0;
      s_axi_ctrl_bvalid <= 1'b0;
      mem_base_lo <= '0;
      mem_base_hi <= '0;
      prog_addr <= '0;
      image_addr <= '0;
      image_bytes <= '0;
      result_addr <= '0;
      result_stride <= '0;
      num_images <= 32'd1;
      irq_en <= 1'b0;
    end else begin
      if (s_axi_ctrl_bvalid && s_axi_ctrl_bready) s_axi_ctrl_bvalid <= 1'b0;
      if (do_write) begin
        aw_hold <= 1'b0;
        w_hold <= 1'b0;
        s_axi_ctrl_bvalid <= 1'b1;
        if (wreg == REG_CTRL && ws[0]) irq_en <= wd[CTRL_IRQ_EN];
        if (!busy) begin
          unique case (wreg)
            REG_MEM_BASE_LO: mem_base_lo <= merge(mem_base_lo, wd, ws);
            REG_MEM_BASE_HI: mem_base_hi <= merge(mem_base_hi, wd, ws);
            REG_PROG_ADDR: prog_addr <= merge(prog_addr, wd, ws);
            REG_IMAGE_ADDR: image_addr <= merge(image_addr, wd, ws);
            REG_IMAGE_BYTES: image_bytes <= merge(image_bytes, wd, ws);
            REG_RESULT_ADDR: result_addr <= merge(result_addr, wd, ws);
            REG_RESULT_STRIDE: result_stride <= merge(result_stride, wd, ws);
            REG_NUM_IMAGES: num_images <= merge(num_images, wd, ws);
            default: ;
          endcase
        end
      end else begin
        if (s_axi_ctrl_awvalid && s_axi_ctrl_awready) begin
          aw_hold <= 1'b1;
          aw_q <= s_axi_ctrl_awaddr;
        end
        if (s_axi_ctrl_wvalid && s_axi_ctrl_wready) begin
          w_hold <= 1'b1;
          wd_q <= s_axi_ctrl_wdata;
          ws_q <= s_axi_ctrl_wstrb;
        end
      end
    end
  end
  assign cmd_start = do_write && wreg == REG_CTRL && ws[0] && wd[CTRL_START];
  assign cmd_reset = do_write && wreg == REG_CTRL && ws[0] && wd[CTRL_SOFT_RESET];

  // AXI4-Lite read
  logic [31:0] rreg;
  always_comb begin
    unique case ({s_axi_ctrl_araddr[7:2], 2'b00})
      REG_CTRL: rreg = 32'(irq_en) << CTRL_IRQ_EN;
      REG_STATUS: rreg = (32'(busy) << STATUS_BUSY) | (32'(done_q) << STATUS_DONE) |
                         (32'(err_q) << STATUS_ERROR) | (32'(bs == B_DRAIN) << STATUS_RESETTING);
      REG_ID: rreg = ID_VALUE;
      REG_VERSION: rreg = VERSION_VALUE;
      REG_CONFIG: rreg = (32'(DATA_WIDTH) << CONFIG_DATA_WIDTH) | (32'(LANES) << CONFIG_LANES) |
                         (32'(HDR_BEATS) << CONFIG_HDR_BEATS);
      REG_MEM_BASE_LO: rreg = mem_base_lo;
      REG_MEM_BASE_HI: rreg = mem_base_hi;
      REG_PROG_ADDR: rreg = prog_addr;
      REG_IMAGE_ADDR: rreg = image_addr;
      REG_IMAGE_BYTES: rreg = image_bytes;
      REG_RESULT_ADDR: rreg = result_addr;
      REG_RESULT_STRIDE: rreg = result_stride;
      REG_NUM_IMAGES: rreg = num_images;
      REG_IMAGES_DONE: rreg = images_done;
      REG_BATCH_CYCLES_LO: rreg = batch_cycles[31:0];
      REG_BATCH_CYCLES_HI: rreg = batch_cycles[63:32];
      REG_CYCLES_TOTAL: rreg = core_cycles;
      REG_CYCLES_ATTENTION: rreg = core_phase[0];
      REG_CYCLES_MLP: rreg = core_phase[1];
      REG_CYCLES_PRUNING: rreg = core_phase[2];
      REG_CYCLES_LAYERNORM: rreg = core_phase[3];
      REG_CYCLES_OTHER: rreg = core_phase[4];
      default: rreg = '0;
    endcase
  end
  assign s_axi_ctrl_arready = !s_axi_ctrl_rvalid;
  assign s_axi_ctrl_rresp = 2'b00;
  always_ff @(posedge aclk) begin
    if (!aresetn) begin
      s_axi_ctrl_rvalid <= 1'b0;
      s_axi_ctrl_rdata <= '0;
    end else if (s_axi_ctrl_arvalid && s_axi_ctrl_arready) begin
      s_axi_ctrl_rvalid <= 1'b1;
      s_axi_ctrl_rdata <= rreg;
    end else if (s_axi_ctrl_rready) begin
      s_axi_ctrl_rvalid <= 1'b0;
    end
  end

  // ---------------------------------------------------------------- core
  wire [AW-1:0] base = AW'({mem_base_hi, mem_base_lo});
  wire flush = (bs == B_DRAIN);
  wire rst_n = aresetn && !rst_int;
  wire core_rst_n = rst_n && !flush;

  logic core_start;
  logic cm_req_valid, cm_req_ready, cm_rsp_valid, cm_rsp_ready;
  logic [31:0] cm_req_addr;
  logic [15:0] cm_req_beats;
  if (BEAT != 64) begin : g_beat_check
    $error("sievit_axi: BEAT=%0d; the IP's core read path is 64-bit (BEAT=64)", BEAT);
  end
  logic [63:0] cm_rsp_data, img_data, res_data;
  logic img_valid, img_ready, img_last, res_valid, res_ready, res_last;

  sievit_top #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .QK_KEYS(QK_KEYS), .AV_KEYS(AV_KEYS),
               .EXP_LANES(EXP_LANES), .AUX_ROWS(AUX_ROWS), .AUX_COLS(AUX_COLS), .MAX_N(MAX_N), .MAX_D(MAX_D), .MAX_H(MAX_H), .MAX_IN(MAX_IN),
               .MAX_PIX(MAX_PIX), .MAX_CLASSES(MAX_CLASSES), .MAX_DH(MAX_DH),
               .SIM_LANES(SIM_LANES), .SIM_ROWS(SIM_ROWS), .BEAT(BEAT)) u_core (
      .clk(aclk), .rst_n(core_rst_n), .start(core_start), .prog_addr, .busy(core_busy),
      .done(core_done),
      .mem_req_valid(cm_req_valid), .mem_req_ready(cm_req_ready), .mem_req_addr(cm_req_addr),
      .mem_req_beats(cm_req_beats), .mem_rsp_valid(cm_rsp_valid), .mem_rsp_ready(cm_rsp_ready),
      .mem_rsp_data(cm_rsp_data),
      .s_axis_tdata(img_data), .s_axis_tvalid(img_valid), .s_axis_tready(img_ready),
      .s_axis_tlast(img_last),
      .m_axis_tdata(res_data), .m_axis_tvalid(res_valid), .m_axis_tready(res_ready),
      .m_axis_tlast(res_last),
      .cycles_total(core_cycles), .cycles_phase(core_phase), .stall_internal(2'b00));

  // ---------------------------------------------------------------- readers
  // client 0: the core's burst port; client 1: the image
  logic [1:0] rd_ar_valid, rd_ar_ready, rd_r_valid, rd_idle;
  logic [1:0][AW-1:0] rd_ar_addr;
  logic [1:0][7:0] rd_ar_len;
  logic img_req_valid, img_req_ready, cm_rsp_last;
  logic [31:0] img_off, slot_off;

  sievit_axi_reader #(.DATA_WIDTH(DATA_WIDTH), .AW(AW), .MAX_BURST(MAX_BURST),
                      .DEPTH(RD_DEPTH)) u_rd_mem (
      .clk(aclk), .rst_n, .flush,
      .req_valid(cm_req_valid), .req_ready(cm_req_ready), .req_addr(base + AW'(cm_req_addr)),
      .req_beats(cm_req_beats),
      .ar_valid(rd_ar_valid[0]), .ar_ready(rd_ar_ready[0]), .ar_addr(rd_ar_addr[0]),
      .ar_len(rd_ar_len[0]), .r_valid(rd_r_valid[0]), .r_data(m_axi_rdata),
      .out_valid(cm_rsp_valid), .out_ready(cm_rsp_ready), .out_data(cm_rsp_data),
      .out_last(cm_rsp_last), .idle(rd_idle[0]));

  sievit_axi_reader #(.DATA_WIDTH(DATA_WIDTH), .AW(AW), .MAX_BURST(MAX_BURST),
                      .DEPTH(IMG_DEPTH)) u_rd_img (
      .clk(aclk), .rst_n, .flush,
      .req_valid(img_req_valid), .req_ready(img_req_ready),
      .req_addr(base + AW'(img_off)), .req_beats(image_bytes[18:3]),
      .ar_valid(rd_ar_valid[1]), .ar_ready(rd_ar_ready[1]), .ar_addr(rd_ar_addr[1]),
      .ar_len(rd_ar_len[1]), .r_valid(rd_r_valid[1]), .r_data(m_axi_rdata),
      .out_valid(img_valid), .out_ready(img_ready), .out_data(img_data),
      .out_last(img_last), .idle(rd_idle[1]));

  // AR arbiter (round robin, held while AR waits) and the tags of the bursts in flight
  logic ar_lock, ar_sel, ar_rr;
  logic tag_in_ready, tag_valid, tag;
  logic [$clog2(TAGS + 2)-1:0] tag_level;
  wire pick = ar_lock ? ar_sel
                      : (rd_ar_valid[1] && (!rd_ar_valid[0] || ar_rr));
  assign m_axi_arvalid = rd_ar_valid[pick] && tag_in_ready;
  assign m_axi_araddr = rd_ar_addr[pick];
  assign m_axi_arlen = rd_ar_len[pick];
  wire ar_fire = m_axi_arvalid && m_axi_arready;
  assign rd_ar_ready[0] = ar_fire && !pick;
  assign rd_ar_ready[1] = ar_fire && pick;
  always_ff @(posedge aclk) begin
    if (!rst_n) begin
      ar_lock <= 1'b0;
      ar_sel <= 1'b0;
      ar_rr <= 1'b0;
    end else begin
      ar_lock <= m_axi_arvalid && !m_axi_arready;
      ar_sel <= pick;
      if (ar_fire) ar_rr <= !pick;
    end
  end

  sievit_axi_fifo #(.W(1), .DEPTH(TAGS), .SYNC_READ(0)) u_tags (
      .clk(aclk), .rst_n, .in_valid(ar_fire), .in_ready(tag_in_ready), .in_data(pick),
      .out_valid(tag_valid), .out_ready(m_axi_rvalid && m_axi_rready && m_axi_rlast),
      .out_data(tag), .level(tag_level));

  assign m_axi_rready = tag_valid;   // the readers' credits guarantee room
  assign rd_r_valid[0] = m_axi_rvalid && tag_valid && !tag;
  assign rd_r_valid[1] = m_axi_rvalid && tag_valid && tag;

  assign m_axi_arid = '0;
  assign m_axi_arsize = AXSIZE;
  assign m_axi_arburst = 2'b01;
  assign m_axi_arlock = 1'b0;
  assign m_axi_arcache = 4'b0011;
  assign m_axi_arprot = 3'b000;
  assign m_axi_arqos = 4'b0000;

  // ---------------------------------------------------------------- writer
  logic seg_valid, seg_ready, wr_idle, wr_in_valid, wr_in_ready, wr_in_last;
  logic [AW-1:0] seg_addr;
  logic [63:0] wr_in_data;
  logic [31:0] seg_beats;
  logic hdr_phase;
  logic [1:0] hdr_cnt;

  sievit_axi_writer #(.DATA_WIDTH(DATA_WIDTH), .AW(AW), .MAX_BURST(MAX_BURST)) u_wr (
      .clk(aclk), .rst_n, .flush,
      .seg_valid, .seg_ready, .seg_addr,
      .in_valid(wr_in_valid), .in_ready(wr_in_ready), .in_data(wr_in_data),
      .in_last(wr_in_last), .seg_beats,
      .aw_valid(m_axi_awvalid), .aw_ready(m_axi_awready), .aw_addr(m_axi_awaddr),
      .aw_len(m_axi_awlen),
      .w_valid(m_axi_wvalid), .w_ready(m_axi_wready), .w_data(m_axi_wdata),
      .w_strb(m_axi_wstrb), .w_last(m_axi_wlast),
      .b_valid(m_axi_bvalid), .b_ready(m_axi_bready), .idle(wr_idle));

  assign m_axi_awid = '0;
  assign m_axi_awsize = AXSIZE;
  assign m_axi_awburst = 2'b01;
  assign m_axi_awlock = 1'b0;
  assign m_axi_awcache = 4'b0011;
  assign m_axi_awprot = 3'b000;
  assign m_axi_awqos = 4'b0000;

  // header words of the image just finished
  logic [31:0] res_beats_q;
  logic [HDR_WORDS-1:0][31:0] hdr;
  always_comb begin
    hdr = '0;
    hdr[HDR_RESULT_BEATS] = res_beats_q;
    hdr[HDR_IMAGE_INDEX] = images_done;
    hdr[HDR_CYCLES_TOTAL] = core_cycles;
    hdr[HDR_CYCLES_ATTENTION] = core_phase[0];
    hdr[HDR_CYCLES_MLP] = core_phase[1];
    hdr[HDR_CYCLES_PRUNING] = core_phase[2];
    hdr[HDR_CYCLES_LAYERNORM] = core_phase[3];
    hdr[HDR_CYCLES_OTHER] = core_phase[4];
  end
  assign wr_in_valid = hdr_phase ? (bs == B_HDR) : res_valid;
  assign wr_in_data = hdr_phase ? {hdr[2 * hdr_cnt + 1], hdr[2 * hdr_cnt]} : res_data;
  assign wr_in_last = hdr_phase ? (hdr_cnt == 2'(HDR_BEATS - 1)) : res_last;
  assign res_ready = !hdr_phase && wr_in_ready;

  // ---------------------------------------------------------------- batch controller
  logic img_pending, seg_pending, res_closed;
  assign img_req_valid = img_pending;
  assign seg_valid = seg_pending;
  assign seg_addr = base + AW'(hdr_phase ? slot_off : slot_off + 32'(HDR_BYTES));
  wire last_image = (images_done + 1'b1 >= num_images);

  always_ff @(posedge aclk) begin
    if (!aresetn) begin
      done_q <= 1'b0;
      err_q <= 1'b0;
    end else begin
      if (cmd_start && !busy) begin
        done_q <= 1'b0;
        err_q <= 1'b0;
      end else if (cmd_reset) begin
        done_q <= 1'b0;
        err_q <= 1'b0;
      end else begin
        if (bs == B_HWAIT && wr_idle && last_image) done_q <= 1'b1;
        if ((m_axi_rvalid && m_axi_rready && m_axi_rresp != 2'b00) ||
            (m_axi_bvalid && m_axi_bready && m_axi_bresp != 2'b00)) err_q <= 1'b1;
      end
    end
  end

  always_ff @(posedge aclk) begin
    if (!aresetn) begin
      bs <= B_IDLE;
      rst_int <= 1'b0;
      images_done <= '0;
      batch_cycles <= '0;
      img_off <= '0;
      slot_off <= '0;
      img_pending <= 1'b0;
      seg_pending <= 1'b0;
      res_closed <= 1'b0;
      res_beats_q <= '0;
      hdr_phase <= 1'b0;
      hdr_cnt <= '0;
      core_start <= 1'b0;
    end else begin
      rst_int <= 1'b0;
      core_start <= 1'b0;
      if (busy && !flush) batch_cycles <= batch_cycles + 1'b1;
      if (img_req_valid && img_req_ready) img_pending <= 1'b0;
      if (seg_valid && seg_ready) seg_pending <= 1'b0;
      if (!hdr_phase && res_valid && res_ready && res_last) begin
        res_closed <= 1'b1;
        res_beats_q <= seg_beats + 1'b1;
      end
      if (cmd_reset && !flush) begin
        bs <= B_DRAIN;
        images_done <= '0;
        img_pending <= 1'b0;
        seg_pending <= 1'b0;
      end else begin
        unique case (bs)
          B_IDLE: if (cmd_start) begin
            bs <= B_LAUNCH;
            images_done <= '0;
            batch_cycles <= '0;
            img_off <= image_addr;
            slot_off <= result_addr;
          end
          B_LAUNCH: if (!core_busy) begin
            core_start <= 1'b1;
            img_pending <= 1'b1;
            seg_pending <= 1'b1;
            res_closed <= 1'b0;
            hdr_phase <= 1'b0;
            bs <= B_RUN;
          end
          B_RUN: if (core_done && !core_start && res_closed && !img_pending && !seg_pending &&
                     wr_idle) begin
            hdr_phase <= 1'b1;
            hdr_cnt <= '0;
            seg_pending <= 1'b1;
            bs <= B_HDR;
          end
          B_HDR: if (!seg_pending && wr_in_valid && wr_in_ready) begin
            hdr_cnt <= hdr_cnt + 1'b1;
            if (wr_in_last) bs <= B_HWAIT;
          end
          B_HWAIT: if (wr_idle) begin
            images_done <= images_done + 1'b1;
            img_off <= img_off + image_bytes;
            slot_off <= slot_off + result_stride;
            hdr_phase <= 1'b0;
            bs <= last_image ? B_IDLE : B_LAUNCH;
          end
          B_DRAIN: if (rd_idle == 2'b11 && wr_idle && !tag_valid) begin
            rst_int <= 1'b1;
            bs <= B_IDLE;
          end
          default: bs <= B_IDLE;
        endcase
      end
    end
  end
  assign irq = irq_en && done_q;

  logic unused;
  assign unused = ^{s_axi_ctrl_awprot, s_axi_ctrl_arprot, s_axi_ctrl_awaddr[1:0],
                    s_axi_ctrl_araddr[1:0], wa[1:0], m_axi_bid, m_axi_rid, image_bytes[31:19],
                    image_bytes[2:0], tag_level, cm_rsp_last};
endmodule

// FIFO. SYNC_READ = 1: a registered read from the memory array (block RAM) and a
// first-word-fall-through output register, two cycles from in to out; SYNC_READ = 0: a
// combinational read (registers / LUT RAM), one cycle. `level` counts every held entry.
module sievit_axi_fifo #(
    parameter int W = 64,
    parameter int DEPTH = 16,
    parameter bit SYNC_READ = 1'b1,
    localparam int LW = $clog2(DEPTH + 2)
) (
    input  logic          clk,
    input  logic          rst_n,
    input  logic          in_valid,
    output logic          in_ready,
    input  logic [W-1:0]  in_data,
    output logic          out_valid,
    input  logic          out_ready,
    output logic [W-1:0]  out_data,
    output logic [LW-1:0] level
);
  localparam int PW = $clog2(DEPTH);
  logic [W-1:0] mem[DEPTH];
  logic [PW-1:0] wp, rp;
  logic [LW-1:0] cnt;   // entries in `mem`
  wire push = in_valid && in_ready;
  assign in_ready = (cnt != LW'(DEPTH));

  function automatic logic [PW-1:0] inc(input logic [PW-1:0] p);
    inc = (p == PW'(DEPTH - 1)) ? '0 : p + 1'b1;
  endfunction

  always_ff @(posedge clk) if (push) mem[wp] <= in_data;

  if (SYNC_READ) begin : g_sync
    logic ov;
    wire load = (cnt != '0) && (!ov || out_ready);
    assign out_valid = ov;
    assign level = cnt + LW'(ov);
    always_ff @(posedge clk) if (load) out_data <= mem[rp];
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        wp <= '0;
        rp <= '0;
        cnt <= '0;
        ov <= 1'b0;
      end else begin
        if (push) wp <= inc(wp);
        if (load) rp <= inc(rp);
        cnt <= cnt + LW'(push) - LW'(load);
        if (load) ov <= 1'b1;
        else if (out_ready) ov <= 1'b0;
      end
    end
  end else begin : g_comb
    wire pop = out_valid && out_ready;
    assign out_valid = (cnt != '0);
    assign out_data = mem[rp];
    assign level = cnt;
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        wp <= '0;
        rp <= '0;
        cnt <= '0;
      end else begin
        if (push) wp <= inc(wp);
        if (pop) rp <= inc(rp);
        cnt <= cnt + LW'(push) - LW'(pop);
      end
    end
  end
endmodule

// One read client: a request of `req_beats` 64-bit words from byte address `req_addr` (8-byte
// aligned) becomes INCR bursts of DATA_WIDTH words, each issued only when the FIFO has room
// for all of it; the words come out 64 bits at a time, `out_last` on the request's last.
module sievit_axi_reader #(
    parameter int DATA_WIDTH = 64,
    parameter int AW = 32,
    parameter int MAX_BURST = 64,
    parameter int DEPTH = 512
) (
    input  logic                  clk,
    input  logic                  rst_n,
    input  logic                  flush,      // drop everything; issue nothing new
    input  logic                  req_valid,
    output logic                  req_ready,
    input  logic [AW-1:0]         req_addr,
    input  logic [15:0]           req_beats,
    output logic                  ar_valid,
    input  logic                  ar_ready,
    output logic [AW-1:0]         ar_addr,
    output logic [7:0]            ar_len,
    input  logic                  r_valid,    // accepted unconditionally
    input  logic [DATA_WIDTH-1:0] r_data,
    output logic                  out_valid,
    input  logic                  out_ready,
    output logic [63:0]           out_data,
    output logic                  out_last,
    output logic                  idle
);
  localparam int R = DATA_WIDTH / 64;             // 64-bit words per AXI beat
  localparam int LB = (R > 1) ? $clog2(R) : 1;
  localparam int BB = $clog2(DATA_WIDTH / 8);     // byte-offset bits of a beat
  localparam int LW = $clog2(DEPTH + 2);

  // splitter: the current request, in AXI beats
  logic [AW-1:0] sp_addr;
  logic [16:0] sp_left;
  logic [LW:0] inflight;
  logic [LW-1:0] f_level;
  logic d_in_ready, d_valid;
  logic [LB+15:0] d_data;
  logic f_valid, f_pop, d_pop, f_in_ready;
  logic [2:0] d_level;
  logic [DATA_WIDTH-1:0] f_data;

  wire [LB-1:0] req_skip = LB'((32'(req_addr) >> 3) & 32'(R - 1));
  wire [16:0] req_axi_beats = 17'((32'(req_skip) + 32'(req_beats) + 32'(R - 1)) >> $clog2(R));
  assign req_ready = !flush && (sp_left == '0) && d_in_ready;
  wire req_fire = req_valid && req_ready && (req_beats != '0);

  wire [12:0] to_4k = 13'h1000 - 13'(sp_addr[11:0]);
  wire [16:0] room_4k = 17'(to_4k >> BB);
  logic [16:0] len;
  always_comb begin
    len = sp_left;
    if (len > 17'(MAX_BURST)) len = 17'(MAX_BURST);
    if (len > room_4k) len = room_4k;
  end
  wire [LW+1:0] used = (LW + 2)'(f_level) + (LW + 2)'(inflight);
  // an address already presented stays until accepted, even while flushing (AXI rule)
  logic ar_wait;
  assign ar_valid = (!flush || ar_wait) && (sp_left != '0) &&
                    (used + (LW + 2)'(len) <= (LW + 2)'(DEPTH));
  assign ar_addr = sp_addr;
  assign ar_len = 8'(len - 1'b1);
  wire ar_fire = ar_valid && ar_ready;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      sp_addr <= '0;
      sp_left <= '0;
      inflight <= '0;
      ar_wait <= 1'b0;
    end else begin
      ar_wait <= ar_valid && !ar_ready;
      if (req_fire) begin
        sp_addr <= req_addr & ~AW'((1 << BB) - 1);
        sp_left <= req_axi_beats;
      end else if (ar_fire) begin
        sp_addr <= sp_addr + (AW'(len) << BB);
        sp_left <= flush ? '0 : sp_left - len;
      end else if (flush && !ar_valid) begin
        sp_left <= '0;
      end
      inflight <= inflight + (ar_fire ? (LW + 1)'(len) : '0) - (LW + 1)'(r_valid);
    end
  end

  // requests whose words are still to come out: {skip, beats}
  sievit_axi_fifo #(.W(LB + 16), .DEPTH(4), .SYNC_READ(0)) u_desc (
      .clk, .rst_n, .in_valid(req_fire), .in_ready(d_in_ready), .in_data({req_skip, req_beats}),
      .out_valid(d_valid), .out_ready(d_pop), .out_data(d_data), .level(d_level));

  sievit_axi_fifo #(.W(DATA_WIDTH), .DEPTH(DEPTH), .SYNC_READ(1)) u_data (
      .clk, .rst_n, .in_valid(r_valid), .in_ready(f_in_ready), .in_data(r_data),
      .out_valid(f_valid), .out_ready(f_pop), .out_data(f_data), .level(f_level));

  // downsizer
  logic started;
  logic [LB-1:0] olane;
  logic [15:0] ocnt;
  wire [LB-1:0] lane = started ? olane : d_data[LB+15:16];
  assign out_valid = !flush && d_valid && f_valid;
  assign out_data = f_data[64 * lane +: 64];
  assign out_last = (ocnt == d_data[15:0] - 1'b1);
  wire out_fire = out_valid && out_ready;
  assign f_pop = flush ? 1'b1 : (out_fire && (out_last || lane == LB'(R - 1)));
  assign d_pop = flush ? 1'b1 : (out_fire && out_last);
  always_ff @(posedge clk) begin
    if (!rst_n || flush) begin
      started <= 1'b0;
      olane <= '0;
      ocnt <= '0;
    end else if (out_fire) begin
      if (out_last) begin
        started <= 1'b0;
        ocnt <= '0;
      end else begin
        started <= 1'b1;
        ocnt <= ocnt + 1'b1;
        olane <= (lane == LB'(R - 1)) ? '0 : lane + 1'b1;
      end
    end
  end
  assign idle = (sp_left == '0) && (inflight == '0) && !f_valid && (f_level == '0) && !d_valid;

  logic unused;
  assign unused = ^{f_in_ready, d_level};   // credits keep the FIFO from filling
endmodule

// The write client: segments of 64-bit words, each from its own start address, packed into
// DATA_WIDTH beats with byte strobes and closed into bursts at `in_last`, at MAX_BURST beats
// or at a 4 KiB boundary; a burst's AW is issued once all its beats are in the W FIFO.
module sievit_axi_writer #(
    parameter int DATA_WIDTH = 64,
    parameter int AW = 32,
    parameter int MAX_BURST = 64
) (
    input  logic                    clk,
    input  logic                    rst_n,
    input  logic                    flush,     // take nothing new; finish the issued bursts
    input  logic                    seg_valid,
    output logic                    seg_ready,
    input  logic [AW-1:0]           seg_addr,
    input  logic                    in_valid,
    output logic                    in_ready,
    input  logic [63:0]             in_data,
    input  logic                    in_last,
    output logic [31:0]             seg_beats, // words taken in the open segment
    output logic                    aw_valid,
    input  logic                    aw_ready,
    output logic [AW-1:0]           aw_addr,
    output logic [7:0]              aw_len,
    output logic                    w_valid,
    input  logic                    w_ready,
    output logic [DATA_WIDTH-1:0]   w_data,
    output logic [DATA_WIDTH/8-1:0] w_strb,
    output logic                    w_last,
    input  logic                    b_valid,
    output logic                    b_ready,
    output logic                    idle
);
  localparam int R = DATA_WIDTH / 64;
  localparam int SW = DATA_WIDTH / 8;
  localparam int WD = 2 * MAX_BURST;
  localparam int WLW = $clog2(WD + 2);

  logic open;
  logic [AW-1:0] cur;          // byte address of the next word
  logic [DATA_WIDTH-1:0] pk_data;
  logic [SW-1:0] pk_strb;
  logic [8:0] bur_len;
  logic [AW-1:0] bur_start;
  logic wf_in_ready, af_in_ready, wf_valid, af_valid;
  logic [WLW-1:0] wf_level;
  logic [8:0] w_credit;        // bursts whose AW went out and whose W beats did not all
  logic [8:0] b_wait;          // bursts whose B is still to come
  logic wf_pop;

  assign seg_ready = !open && !flush;
  assign in_ready = open && !flush && wf_in_ready && af_in_ready;
  wire in_fire = in_valid && in_ready;

  wire [31:0] lane = (32'(cur) >> 3) & 32'(R - 1);
  logic [DATA_WIDTH-1:0] nd;
  logic [SW-1:0] ns;
  always_comb begin
    nd = pk_data;
    ns = pk_strb;
    nd[64 * lane +: 64] = in_data;
    ns[8 * lane +: 8] = 8'hFF;
  end
  wire beat_done = in_last || (lane == 32'(R - 1));
  wire [AW-1:0] beat_addr = cur & ~AW'(SW - 1);
  wire [11:0] next_beat = beat_addr[11:0] + 12'(SW);
  wire [8:0] blen = bur_len + 1'b1;
  wire [AW-1:0] bstart = (bur_len == '0) ? beat_addr : bur_start;
  wire blast = in_last || (blen == 9'(MAX_BURST)) || (next_beat == 12'h000);
  wire [7:0] awlen_new = blen[7:0] - 8'd1;   // 1..256 beats -> AWLEN 0..255
  wire wf_push = in_fire && beat_done;
  wire af_push = wf_push && blast;

  always_ff @(posedge clk) begin
    if (!rst_n || flush) begin
      open <= 1'b0;
      cur <= '0;
      pk_data <= '0;
      pk_strb <= '0;
      bur_len <= '0;
      bur_start <= '0;
      seg_beats <= '0;
    end else begin
      if (seg_valid && seg_ready) begin
        open <= 1'b1;
        cur <= seg_addr;
        seg_beats <= '0;
      end
      if (in_fire) begin
        cur <= cur + AW'(8);
        seg_beats <= seg_beats + 1'b1;
        if (in_last) open <= 1'b0;
        if (beat_done) begin
          pk_data <= '0;
          pk_strb <= '0;
          bur_len <= blast ? '0 : blen;
          bur_start <= bstart;
        end else begin
          pk_data <= nd;
          pk_strb <= ns;
        end
      end
    end
  end

  logic [DATA_WIDTH+SW:0] wf_out;
  sievit_axi_fifo #(.W(DATA_WIDTH + SW + 1), .DEPTH(WD), .SYNC_READ(1)) u_w (
      .clk, .rst_n, .in_valid(wf_push), .in_ready(wf_in_ready), .in_data({blast, ns, nd}),
      .out_valid(wf_valid), .out_ready(wf_pop), .out_data(wf_out), .level(wf_level));
  logic [AW+7:0] af_out;
  logic [2:0] af_level;
  sievit_axi_fifo #(.W(AW + 8), .DEPTH(4), .SYNC_READ(0)) u_aw (
      .clk, .rst_n, .in_valid(af_push), .in_ready(af_in_ready),
      .in_data({bstart, awlen_new}),
      .out_valid(af_valid), .out_ready(aw_valid && aw_ready), .out_data(af_out), .level(af_level));

  assign aw_valid = af_valid;
  assign aw_addr = af_out[AW+7:8];
  assign aw_len = af_out[7:0];
  assign w_valid = wf_valid && (w_credit != '0);
  assign {w_last, w_strb, w_data} = wf_out;
  // while flushing, beats of the open burst (no AW will come for them) are dropped
  wire drop = flush && wf_valid && (w_credit == '0) && !af_valid;
  assign wf_pop = (w_valid && w_ready) || drop;
  assign b_ready = (b_wait != '0);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      w_credit <= '0;
      b_wait <= '0;
    end else begin
      w_credit <= w_credit + 9'(aw_valid && aw_ready) - 9'(w_valid && w_ready && w_last);
      b_wait <= b_wait + 9'(aw_valid && aw_ready) - 9'(b_valid && b_ready);
    end
  end
  assign idle = !open && !wf_valid && (wf_level == '0) && !af_valid && (b_wait == '0) &&
                (w_credit == '0);

  logic unused;
  assign unused = ^af_level;
endmodule
/* verilator lint_on DECLFILENAME */
