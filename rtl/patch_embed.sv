// Engine `patch_embed`: uint8 pixels (HWC) -> (p - 128) patch rows -> `linear` engine, whose
// residual write-back adds the position embedding (requant(acc << (f - fa) + pos << (f - fp),
// f = max(fa, fp)): exact, and equal to the contract's alignment through max(fa, fc, fp),
// since aligning to a finer frac only shifts left) -> CLS row (cls + pos[0], here) first, then
// the patch rows (docs/numerics.md). The CLS and position tables are fetched through the
// burst read port (shared with the top's weight loader). The image streams in 8 bytes per beat and each
// byte lands at its place in patch order (an incremental address per lane, no division);
// the patch rows then leave as BEAT-bit words, each row padded with zeros to whole words (the
// RTL layout pads the weight rows to match). The image, the table fetch and the GEMM overlap:
// the first image beat starts the fetch of the CLS and position tables (the read port is free
// while the image streams in), the CLS row leaves once they are in, and each band of patches
// (one patch row of the grid) goes into the linear engine as soon as its last pixel row has
// arrived, while the next bands still stream in. In: image_size^2 * chans bytes, 8 per beat.
// Out: grid^2 + 1 rows of `dim` int8, 8 per beat. With EXT_LINEAR = 1 the top's shared
// array runs the GEMM behind lin_*; otherwise a private linear (BEAT = 64 only).
module patch_embed #(
    parameter int LANES = 8,          // the private linear: input elements per cycle
    parameter int ROWS = 2,           //   token rows per cycle
    parameter int COLS = 8,           //   output columns per cycle
    parameter int EXT_LINEAR = 0,     // 1: use the lin_* port instead of a private linear
    parameter int BEAT = 64,          // the linear engine's stream bits
    parameter int MAX_PIX = 1024,     // image bytes
    parameter int MAX_TOK = 64,       // grid^2 + 1
    parameter int MAX_D = 128,
    parameter int MAX_IN = 64         // patch^2 * chans
) (
    // the linear engine's port, used when EXT_LINEAR = 1: outputs 0 and inputs ignored
    // otherwise
    output logic [15:0]                      lin_n_in,
    output logic [15:0]                      lin_n_out,
    output logic [15:0]                      lin_n_rows,
    output logic [31:0]                      lin_w_addr,
    output logic [31:0]                      lin_b_addr,
    output logic [1:0]                       lin_epi,
    output logic signed [7:0]                lin_frac_acc,
    output logic signed [7:0]                lin_frac_out,
    output logic signed [7:0]                lin_frac_gelu_in,
    output logic signed [7:0]                lin_frac_res,
    output logic [BEAT-1:0]                  lin_s_tdata,
    output logic                             lin_s_tvalid,
    input  logic                             lin_s_tready,
    input  logic [BEAT-1:0]                  lin_m_tdata,
    input  logic                             lin_m_tvalid,
    output logic                             lin_m_tready,
    input  logic                             lin_m_tlast,
    input  logic [31:0]                      lin_mac_cycles,
    input  logic                             clk,
    input  logic                             rst_n,
    input  logic [15:0]                      image_size,
    input  logic [15:0]                      patch,
    input  logic [15:0]                      chans,
    input  logic [15:0]                      grid,
    input  logic [15:0]                      dim,
    input  logic [31:0]                      cls_addr,      // int8 CLS [dim]
    input  logic [31:0]                      pos_addr,      // int8 position [(grid^2+1) x dim]
    input  logic [31:0]                      w_addr,
    input  logic [31:0]                      b_addr,
    input  logic signed [7:0]                frac_acc,
    input  logic signed [7:0]                frac_cls,
    input  logic signed [7:0]                frac_pos,
    input  logic signed [7:0]                frac_out,
    output logic                             mem_req_valid,
    input  logic                             mem_req_ready,
    output logic [31:0]                      mem_req_addr,
    output logic [15:0]                      mem_req_beats,
    input  logic                             mem_rsp_valid,
    output logic                             mem_rsp_ready,
    input  logic [sievit_pkg::BEAT_BITS-1:0] mem_rsp_data,
    input  logic [sievit_pkg::BEAT_BITS-1:0] s_axis_tdata,
    input  logic                             s_axis_tvalid,
    output logic                             s_axis_tready,
    input  logic                             s_axis_tlast,
    output logic [sievit_pkg::BEAT_BITS-1:0] m_axis_tdata,
    output logic                             m_axis_tvalid,
    input  logic                             m_axis_tready,
    output logic                             m_axis_tlast
);
  import sievit_pkg::*;

  localparam int B8 = BEAT / 8;                         // int8 elements per linear beat
  localparam int R = BEAT / BEAT_BITS;                  // 64-bit parts per linear beat
  localparam int LR = $clog2(R > 1 ? R : 2);
  localparam int CW = 24;
  localparam int MAX_IN_PAD = (MAX_IN + B8 - 1) / B8 * B8;
  // patch order, each row padded by fewer than B8 bytes: n_patch * row_pad < MAX_PIX + n_patch * B8
  localparam int PIXP = MAX_PIX + (MAX_TOK - 1) * (B8 - 1);
  localparam int PXI = $clog2(PIXP);
  localparam int DW = MAX_D / I8_PER_BEAT;              // 64-bit words per token row
  localparam int DI = $clog2(DW);
  localparam int PW = MAX_TOK * MAX_D / B8;             // position table, linear words
  localparam int PWI = $clog2(PW);

  // WAIT_T: until the tables are in; FEED: each patch row (once its band is in) and then its
  // position row into the linear engine, whose output rows already stream out; OUT_LIN: the
  // rest of them. The image input and the table fetch run beside it (in_on, fst).
  typedef enum logic [1:0] {WAIT_T, OUT_CLS, FEED, OUT_LIN} state_t;
  state_t state;
  typedef enum logic [2:0] {F_IDLE, REQ_C, GET_C, REQ_P, GET_P, F_DONE} fetch_t;
  fetch_t fst;
  logic in_on;                           // image beats still to come
  logic [CW-1:0] ibeat, fbeat;           // image beat; table word
  logic [CW-1:0] bands_in;               // bands of the grid whose pixels are all in
  logic [CW-1:0] band_end;               // image bytes that complete the next band
  logic [CW-1:0] fband, fpx;             // FEED: band and patch (in its band) being fed

  logic [7:0] img[PIXP];                 // (p - 128) in patch order, row by row
  logic [BEAT_BITS-1:0] cls[DW];
  logic [BEAT-1:0] pos[PW];              // position rows, linear words
  logic [CW-1:0] beat, col;              // beat of the phase; word within the patch row
  logic [CW-1:0] pbeat, pcol;            // FEED: position word, word within the position row
  logic fres;                            // FEED: the position row's words are next
  logic [LR-1:0] part;                   // OUT_LIN: 64-bit part of the linear's beat

  wire [CW-1:0] n_pix = CW'(image_size) * CW'(image_size) * CW'(chans);
  wire [CW-1:0] img_beats = (n_pix + 7) >> 3;
  wire [CW-1:0] n_patch = CW'(grid) * CW'(grid);
  wire [CW-1:0] pc = CW'(patch) * CW'(chans);            // bytes of one pixel row of a patch
  wire [CW-1:0] row_in = CW'(patch) * pc;
  wire [CW-1:0] row_words = (row_in + CW'(B8) - 1) / CW'(B8);
  wire [CW-1:0] row_pad = row_words * CW'(B8);
  wire [CW-1:0] feed_beats = n_patch * row_words;
  wire [CW-1:0] d_beats = CW'(dim) >> 3;                 // 64-bit words per token row
  wire [CW-1:0] d_words = CW'(dim) / CW'(B8);            // linear words per token row
  wire [CW-1:0] pos_beats = (n_patch + 1) * d_beats;
  // patch-order address steps: next patch, next pixel row of the patches, next band
  wire [CW-1:0] step_gx = row_pad - pc + 1'b1;
  wire [CW-1:0] step_py = CW'(1) - (CW'(grid) - 1'b1) * row_pad;
  wire [CW-1:0] step_gy = row_pad - row_in + 1'b1;
  wire [CW-1:0] band_bytes = CW'(patch) * CW'(image_size) * CW'(chans);

  // ---- the linear engine
  logic [BEAT-1:0] l_s_tdata, l_m_tdata;
  logic l_s_tvalid, l_s_tready, l_m_tvalid, l_m_tready, l_m_tlast;
  logic [31:0] l_mac;
  if (EXT_LINEAR != 0) begin : g_ext_linear
    assign lin_n_in = 16'(row_pad);
    assign lin_n_out = dim;
    assign lin_n_rows = 16'(n_patch);
    assign lin_w_addr = w_addr;
    assign lin_b_addr = b_addr;
    assign lin_epi = 2'(EPI_RESIDUAL);
    assign lin_frac_acc = frac_acc;
    assign lin_frac_out = frac_out;
    assign lin_frac_gelu_in = 8'sd0;
    assign lin_frac_res = frac_pos;
    assign lin_s_tdata = l_s_tdata;
    assign lin_s_tvalid = l_s_tvalid;
    assign l_s_tready = lin_s_tready;
    assign l_m_tdata = lin_m_tdata;
    assign l_m_tvalid = lin_m_tvalid;
    assign lin_m_tready = l_m_tready;
    assign l_m_tlast = lin_m_tlast;
    assign l_mac = lin_mac_cycles;
    assign mem_req_valid = (fst == REQ_C) || (fst == REQ_P);
    assign mem_req_addr = (fst == REQ_C) ? cls_addr : pos_addr;
    assign mem_req_beats = 16'((fst == REQ_C) ? d_beats : pos_beats);
    assign mem_rsp_ready = (fst == GET_C) || (fst == GET_P);
  end else begin : g_int_linear
    wire mine = (fst == REQ_C) || (fst == GET_C) || (fst == REQ_P) || (fst == GET_P);
    logic l_req_valid, l_rsp_ready;
    logic [31:0] l_req_addr;
    logic [15:0] l_req_beats;
    linear #(.LANES(LANES), .ROWS(ROWS), .COLS(COLS), .MAX_N(MAX_TOK), .MAX_IN(MAX_IN_PAD),
             .MAX_OUT(MAX_D), .BEAT(BEAT)) u_linear (
        .clk, .rst_n, .n_in(16'(row_pad)), .n_out(dim), .n_rows(16'(n_patch)), .w_addr, .b_addr,
        .wl_start(1'b0), .wl_addr(32'd0),
        .epi(2'(EPI_RESIDUAL)), .frac_acc, .frac_out, .frac_gelu_in(8'sd0), .frac_res(frac_pos),
        .mem_req_valid(l_req_valid), .mem_req_ready(mem_req_ready && !mine),
        .mem_req_addr(l_req_addr), .mem_req_beats(l_req_beats),
        .mem_rsp_valid(mem_rsp_valid && !mine), .mem_rsp_ready(l_rsp_ready),
        .mem_rsp_data(BEAT'(mem_rsp_data)),
        .s_axis_tdata(l_s_tdata), .s_axis_tvalid(l_s_tvalid), .s_axis_tready(l_s_tready),
        .s_axis_tlast(1'b0),
        .m_axis_tdata(l_m_tdata), .m_axis_tvalid(l_m_tvalid), .m_axis_tready(l_m_tready),
        .m_axis_tlast(l_m_tlast), .mac_cycles(l_mac));
    assign mem_req_valid = mine ? ((fst == REQ_C) || (fst == REQ_P)) : l_req_valid;
    assign mem_req_addr = mine ? ((fst == REQ_C) ? cls_addr : pos_addr) : l_req_addr;
    assign mem_req_beats = mine ? 16'((fst == REQ_C) ? d_beats : pos_beats) : l_req_beats;
    assign mem_rsp_ready = mine ? ((fst == GET_C) || (fst == GET_P)) : l_rsp_ready;
    assign {lin_n_in, lin_n_out, lin_n_rows, lin_w_addr, lin_b_addr, lin_epi} = '0;
    assign {lin_frac_acc, lin_frac_out, lin_frac_gelu_in, lin_frac_res} = '0;
    assign {lin_s_tdata, lin_s_tvalid, lin_m_tready} = '0;
    logic unused_lin;
    assign unused_lin = ^{lin_s_tready, lin_m_tdata, lin_m_tvalid, lin_m_tlast, lin_mac_cycles};
  end

  // ---- image in: the patch-order address of each of the beat's eight bytes, from lane 0's
  // (address, channel, column in the patch, patch column, pixel row in the patch)
  logic [CW-1:0] w_p, w_c, w_px, w_gx, w_py;
  logic [CW-1:0] lane_p[I8_PER_BEAT];
  logic [CW-1:0] nx_p, nx_c, nx_px, nx_gx, nx_py;
  always_comb begin
    logic [CW-1:0] p, c, px, gx, py;
    p = w_p;
    c = w_c;
    px = w_px;
    gx = w_gx;
    py = w_py;
    for (int l = 0; l < I8_PER_BEAT; l++) begin
      lane_p[l] = p;
      if (c != CW'(chans) - 1'b1) begin
        c = c + 1'b1;
        p = p + 1'b1;
      end else if (px != CW'(patch) - 1'b1) begin
        c = '0;
        px = px + 1'b1;
        p = p + 1'b1;
      end else if (gx != CW'(grid) - 1'b1) begin
        c = '0;
        px = '0;
        gx = gx + 1'b1;
        p = p + step_gx;
      end else begin
        c = '0;
        px = '0;
        gx = '0;
        p = p + ((py == CW'(patch) - 1'b1) ? step_gy : step_py);
        py = (py == CW'(patch) - 1'b1) ? '0 : py + 1'b1;
      end
    end
    nx_p = p;
    nx_c = c;
    nx_px = px;
    nx_gx = gx;
    nx_py = py;
  end

  // ---- the stream into the linear engine: per patch, its row (zero-padded to whole words)
  // and then its position row as the residual
  wire feeding = (state == FEED) && (beat != feed_beats || fres) && (fres || fband < bands_in);
  always_comb begin
    l_s_tdata = pos[PWI'(d_words + pbeat)];
    if (!fres)
      for (int l = 0; l < B8; l++)
        l_s_tdata[8*l+:8] = (col * CW'(B8) + CW'(l) < row_in) ? img[PXI'(beat * CW'(B8) + CW'(l))]
                                                              : 8'd0;
  end
  assign l_s_tvalid = feeding;

  // ---- the CLS row: cls + pos[0]
  logic [BEAT_BITS-1:0] cls_out;
  wire [BEAT-1:0] pos_w0 = pos[PWI'(beat / CW'(R))];
  wire [BEAT_BITS-1:0] pos_word = pos_w0[BEAT_BITS * (R > 1 ? 32'(beat % CW'(R)) : 0)+:BEAT_BITS];
  always_comb begin
    int f;
    f = frac_cls > frac_pos ? 32'(frac_cls) : 32'(frac_pos);
    for (int l = 0; l < I8_PER_BEAT; l++) begin
      logic signed [63:0] s;
      s = rshift_floor(64'($signed(cls[DI'(beat)][8*l+:8])), 32'(frac_cls) - f)
          + rshift_floor(64'($signed(pos_word[8*l+:8])), 32'(frac_pos) - f);
      cls_out[8*l+:8] = requant(s, f, 32'(frac_out));
    end
  end

  assign s_axis_tready = in_on;
  wire out_lin = (state == FEED) || (state == OUT_LIN);
  assign m_axis_tvalid = (state == OUT_CLS) || (out_lin && l_m_tvalid);
  assign m_axis_tdata = (state == OUT_CLS) ? cls_out : l_m_tdata[BEAT_BITS * 32'(part)+:BEAT_BITS];
  assign m_axis_tlast = out_lin && l_m_tlast && (32'(part) == R - 1);
  assign l_m_tready = out_lin && m_axis_tready && (32'(part) == R - 1);
  wire op_end = m_axis_tvalid && m_axis_tready && m_axis_tlast;   // the last output beat

  // ---- image in (every beat a cycle while in_on) and the bands it completes
  wire img_fire = in_on && s_axis_tvalid;
  wire img_last = (ibeat == img_beats - 1'b1);
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      in_on <= 1'b1;
      ibeat <= '0;
      bands_in <= '0;
      band_end <= '0;
      {w_p, w_c, w_px, w_gx, w_py} <= '0;
    end else if (img_fire) begin
      for (int l = 0; l < I8_PER_BEAT; l++)
        if ((ibeat << 3) + CW'(l) < n_pix)
          img[PXI'(lane_p[l])] <= s_axis_tdata[8*l+:8] - 8'd128;
      {w_p, w_c, w_px, w_gx, w_py} <= {nx_p, nx_c, nx_px, nx_gx, nx_py};
      ibeat <= img_last ? '0 : ibeat + 1'b1;
      if (img_last) begin
        in_on <= 1'b0;
        bands_in <= CW'(grid);
      end else if (ibeat == '0) begin   // 8 bytes in (a band is at least 8 bytes)
        if (CW'(8) >= band_bytes) begin
          bands_in <= CW'(1);
          band_end <= band_bytes + band_bytes;
        end else band_end <= band_bytes;
      end else if ((ibeat + 1'b1) << 3 >= band_end) begin
        bands_in <= bands_in + 1'b1;
        band_end <= band_end + band_bytes;
      end
    end else if (op_end) begin   // the next image may come
      in_on <= 1'b1;
      bands_in <= '0;
      {w_p, w_c, w_px, w_gx, w_py} <= '0;
    end
  end

  // ---- the CLS and position tables, from the first image beat on
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      fst <= F_IDLE;
      fbeat <= '0;
    end else begin
      unique case (fst)
        F_IDLE: if (img_fire && ibeat == '0) fst <= REQ_C;
        REQ_C: if (mem_req_ready) fst <= GET_C;
        GET_C: if (mem_rsp_valid) begin
          cls[DI'(fbeat)] <= mem_rsp_data;
          fbeat <= (fbeat == d_beats - 1'b1) ? '0 : fbeat + 1'b1;
          if (fbeat == d_beats - 1'b1) fst <= REQ_P;
        end
        REQ_P: if (mem_req_ready) fst <= GET_P;
        GET_P: if (mem_rsp_valid) begin
          pos[PWI'(fbeat / CW'(R))][BEAT_BITS * (R > 1 ? 32'(fbeat % CW'(R)) : 0)+:BEAT_BITS]
              <= mem_rsp_data;
          fbeat <= (fbeat == pos_beats - 1'b1) ? '0 : fbeat + 1'b1;
          if (fbeat == pos_beats - 1'b1) fst <= F_DONE;
        end
        F_DONE: if (op_end) fst <= F_IDLE;
        default: fst <= F_IDLE;
      endcase
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= WAIT_T;
      beat <= '0;
      col <= '0;
      pbeat <= '0;
      pcol <= '0;
      fres <= 1'b0;
      part <= '0;
      fband <= '0;
      fpx <= '0;
    end else begin
      unique case (state)
        WAIT_T: if (fst == F_DONE) state <= OUT_CLS;
        OUT_CLS: if (m_axis_tready) begin
          beat <= (beat == d_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == d_beats - 1'b1) begin
            state <= FEED;
            col <= '0;
            pbeat <= '0;
            pcol <= '0;
            fres <= 1'b0;
            part <= '0;
            fband <= '0;
            fpx <= '0;
          end
        end
        FEED, OUT_LIN: begin
          if (feeding && l_s_tready) begin
            if (!fres) begin   // `beat` counts the patch words, stopping at feed_beats
              beat <= beat + 1'b1;
              col <= (col == row_words - 1'b1) ? '0 : col + 1'b1;
              if (col == row_words - 1'b1) begin
                fres <= 1'b1;
                fpx <= (fpx == CW'(grid) - 1'b1) ? '0 : fpx + 1'b1;
                if (fpx == CW'(grid) - 1'b1) fband <= fband + 1'b1;
              end
            end else begin
              pbeat <= pbeat + 1'b1;
              pcol <= (pcol == d_words - 1'b1) ? '0 : pcol + 1'b1;
              if (pcol == d_words - 1'b1) begin
                fres <= 1'b0;
                if (beat == feed_beats) state <= OUT_LIN;
              end
            end
          end
          if (m_axis_tready && l_m_tvalid) begin
            part <= (32'(part) == R - 1) ? '0 : part + 1'b1;
            if (op_end) begin
              state <= WAIT_T;
              beat <= '0;
            end
          end
        end
        default: state <= WAIT_T;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ (|l_mac);
endmodule
