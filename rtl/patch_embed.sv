// Engine `patch_embed`: uint8 pixels (HWC) -> (p - 128) patch rows -> `linear` engine (raw
// int32 write-back) -> CLS row first, + position embedding (exact alignment), requantized to
// the embedding frac (docs/numerics.md). The position/CLS table is fetched through the burst
// read port before the patches stream into the linear engine (which fetches its weights
// afterwards). In: image_size^2 * chans bytes, 8 per beat. Out: grid^2 + 1 rows of `dim` int8.
module patch_embed #(
    parameter int ROWS = 2,           // linear: token rows per cycle
    parameter int COLS = 8,           // linear: output columns per cycle
    parameter int MAX_PIX = 1024,   // image bytes
    parameter int MAX_TOK = 64,     // grid^2 + 1
    parameter int MAX_D = 128,
    parameter int MAX_IN = 64       // patch^2 * chans
) (
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

  localparam int CW = 24;
  localparam int PI = $clog2(MAX_PIX);
  localparam int DW = MAX_D / I8_PER_BEAT;            // words per token row
  localparam int TW = MAX_TOK * DW;
  localparam int TI = $clog2(TW);
  localparam int DI = $clog2(DW);

  typedef enum logic [3:0] {IN_IMG, REQ_C, GET_C, REQ_P, GET_P, FEED, OUT_ROW, GET_ACC} state_t;
  state_t state;

  logic [7:0] img[MAX_PIX];
  // word buffers (one access per beat, RAM-mappable): cls and pos 8 int8 per word, the
  // accumulator row 8 int32 per word (written 2 per beat)
  logic [BEAT_BITS-1:0] cls[DW];
  logic [BEAT_BITS-1:0] pos[TW];
  logic [8*32-1:0] acc_row[DW];
  logic [CW-1:0] beat, row, row_base;   // row_base: the first pos word of row `row`

  wire [CW-1:0] n_pix = CW'(image_size) * CW'(image_size) * CW'(chans);
  wire [CW-1:0] img_beats = (n_pix + 7) >> 3;
  wire [CW-1:0] n_patch = CW'(grid) * CW'(grid);
  wire [CW-1:0] row_in = CW'(patch) * CW'(patch) * CW'(chans);
  wire [CW-1:0] feed_beats = n_patch * (row_in >> 3);
  wire [CW-1:0] d_beats = CW'(dim) >> 3;
  wire [CW-1:0] pos_beats = (n_patch + 1) * d_beats;
  wire [CW-1:0] acc_beats = CW'(dim) >> 1;

  // linear engine: patch rows in, raw accumulators out
  logic [BEAT_BITS-1:0] l_s_tdata, l_m_tdata;
  logic l_s_tready, l_m_tvalid, l_m_tlast, l_req_valid, l_rsp_ready;
  logic [31:0] l_req_addr, l_mac;
  logic [15:0] l_req_beats;
  wire mine = (state == REQ_C) || (state == GET_C) || (state == REQ_P) || (state == GET_P);

  linear #(.LANES(8), .ROWS(ROWS), .COLS(COLS), .MAX_N(MAX_TOK), .MAX_IN(MAX_IN), .MAX_OUT(MAX_D)) u_linear (
      .clk, .rst_n, .n_in(16'(row_in)), .n_out(dim), .n_rows(16'(n_patch)), .w_addr, .b_addr,
      .epi(2'(EPI_RAW)), .frac_acc, .frac_out(8'sd0), .frac_gelu_in(8'sd0), .frac_res(8'sd0),
      .mem_req_valid(l_req_valid), .mem_req_ready(mem_req_ready && !mine),
      .mem_req_addr(l_req_addr), .mem_req_beats(l_req_beats),
      .mem_rsp_valid(mem_rsp_valid && !mine), .mem_rsp_ready(l_rsp_ready), .mem_rsp_data,
      .s_axis_tdata(l_s_tdata), .s_axis_tvalid(state == FEED), .s_axis_tready(l_s_tready),
      .s_axis_tlast(1'b0),
      .m_axis_tdata(l_m_tdata), .m_axis_tvalid(l_m_tvalid), .m_axis_tready(state == GET_ACC),
      .m_axis_tlast(l_m_tlast), .mac_cycles(l_mac));

  assign mem_req_valid = mine ? ((state == REQ_C) || (state == REQ_P)) : l_req_valid;
  assign mem_req_addr = mine ? ((state == REQ_C) ? cls_addr : pos_addr) : l_req_addr;
  assign mem_req_beats = mine ? 16'((state == REQ_C) ? d_beats : pos_beats) : l_req_beats;
  assign mem_rsp_ready = mine ? ((state == GET_C) || (state == GET_P)) : l_rsp_ready;

  // The eight pixels of the current feed beat: patch (pgy, pgx), lane 0 at (ppy, ppx, pch)
  // inside it; each lane steps the mixed-radix (row, column, channel) counter by one, so no
  // address needs a division. A patch's row_in elements are whole beats.
  logic [CW-1:0] pgy, pgx, ppy, ppx, pch, nxt_py, nxt_px, nxt_ch;
  always_comb begin
    logic [CW-1:0] py, px, c;
    py = ppy;
    px = ppx;
    c = pch;
    for (int l = 0; l < I8_PER_BEAT; l++) begin
      l_s_tdata[8*l+:8] = img[PI'(((pgy * CW'(patch) + py) * CW'(image_size) + pgx * CW'(patch) + px)
                               * CW'(chans) + c)] - 8'd128;
      if (c == CW'(chans) - 1'b1) begin
        c = '0;
        if (px == CW'(patch) - 1'b1) begin
          px = '0;
          py = py + 1'b1;
        end else px = px + 1'b1;
      end else c = c + 1'b1;
    end
    nxt_py = py;
    nxt_px = px;
    nxt_ch = c;
  end
  wire patch_end = (nxt_py == CW'(patch));

  // output beat: 8 channels of row `row` (0 = CLS)
  logic [BEAT_BITS-1:0] out_word;
  wire [BEAT_BITS-1:0] cls_word = cls[DI'(beat)];
  wire [BEAT_BITS-1:0] pos_word = pos[TI'(row_base + beat)];
  wire [8*32-1:0] acc_word = acc_row[DI'(beat)];
  always_comb begin
    int fa, f, f2;
    fa = 32'(frac_acc);
    f = fa > 32'(frac_cls) ? fa : 32'(frac_cls);
    f2 = f > 32'(frac_pos) ? f : 32'(frac_pos);
    for (int l = 0; l < I8_PER_BEAT; l++) begin
      logic signed [63:0] tok, s;
      tok = (row == 0) ? rshift_floor(64'($signed(cls_word[8*l+:8])), 32'(frac_cls) - f)
                       : rshift_floor(64'($signed(acc_word[32*l+:32])), fa - f);
      s = rshift_floor(tok, f - f2) + rshift_floor(64'($signed(pos_word[8*l+:8])), 32'(frac_pos) - f2);
      out_word[8*l+:8] = requant(s, f2, 32'(frac_out));
    end
  end

  assign s_axis_tready = (state == IN_IMG);
  assign m_axis_tvalid = (state == OUT_ROW);
  assign m_axis_tdata = out_word;
  assign m_axis_tlast = (state == OUT_ROW) && (row == n_patch) && (beat == d_beats - 1'b1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= IN_IMG;
      beat <= '0;
      row <= '0;
      row_base <= '0;
      pgy <= '0;
      pgx <= '0;
      ppy <= '0;
      ppx <= '0;
      pch <= '0;
    end else begin
      unique case (state)
        IN_IMG: if (s_axis_tvalid) begin
          for (int l = 0; l < I8_PER_BEAT; l++)
            if ((beat << 3) + CW'(l) < n_pix) img[PI'((beat << 3) + CW'(l))] <= s_axis_tdata[8*l+:8];
          beat <= (beat == img_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == img_beats - 1'b1) state <= REQ_C;
        end
        REQ_C: if (mem_req_ready) state <= GET_C;
        GET_C: if (mem_rsp_valid) begin
          cls[DI'(beat)] <= mem_rsp_data;
          beat <= (beat == d_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == d_beats - 1'b1) state <= REQ_P;
        end
        REQ_P: if (mem_req_ready) state <= GET_P;
        GET_P: if (mem_rsp_valid) begin
          pos[TI'(beat)] <= mem_rsp_data;
          beat <= (beat == pos_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == pos_beats - 1'b1) state <= FEED;
        end
        FEED: if (l_s_tready) begin
          beat <= (beat == feed_beats - 1'b1) ? '0 : beat + 1'b1;
          ppy <= patch_end ? '0 : nxt_py;
          ppx <= patch_end ? '0 : nxt_px;
          pch <= patch_end ? '0 : nxt_ch;
          if (patch_end) begin
            pgx <= (pgx == CW'(grid) - 1'b1) ? '0 : pgx + 1'b1;
            pgy <= (pgx == CW'(grid) - 1'b1) ? pgy + 1'b1 : pgy;
          end
          if (beat == feed_beats - 1'b1) begin
            state <= OUT_ROW;  // the CLS row needs no accumulator
            row <= '0;
            row_base <= '0;
            pgy <= '0;
            pgx <= '0;
          end
        end
        OUT_ROW: if (m_axis_tready) begin
          beat <= (beat == d_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == d_beats - 1'b1) begin
            if (row == n_patch) state <= IN_IMG;
            else begin
              row <= row + 1'b1;
              row_base <= row_base + d_beats;
              state <= GET_ACC;
            end
          end
        end
        GET_ACC: if (l_m_tvalid) begin
          acc_row[DI'(beat >> 2)][64*beat[1:0]+:64] <= l_m_tdata;
          beat <= (beat == acc_beats - 1'b1) ? '0 : beat + 1'b1;
          if (beat == acc_beats - 1'b1) state <= OUT_ROW;
        end
        default: state <= IN_IMG;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ l_m_tlast ^ (|l_mac);
endmodule
