// Engine `pruning` (decision half): given each live token's keep score, decide which rows
// stay and fuse the others into one package token, then compact the kept rows stably: CLS,
// kept rows in order, package last (docs/numerics.md).
//   HeatViT (mode 1 threshold score >= 128, mode 2 the k best): scores are the selector's
//   Q0.8 keep scores; candidates are the patches (ids > 0); the pruned patches and the old
//   package fuse into the new one (score-weighted mean, div_round).
//   EViT (mode 3, rd.evit_fuse): scores are the CLS attention summed over heads (Q0.8 x
//   heads, from the attention engine); every live row but CLS is a candidate (an earlier
//   package too); the k best stay, the rest fuse into sum(a_j x_j) / (heads * 2^8).
//   Drop (mode 4, rd.drop_topk; CP-ViT): the k best candidates stay, the rest are dropped;
//   the scores travel with the kept rows (CP-ViT's cumulative scores): the score output is
//   the n_new compacted scores instead of the n input ones.
// Ties go to the lower row in every top-k.
// Message layout = the HLS pruning_top with score_in = 1:
//   in : n rows of `dim` int8, n ids (int32), n scores (int32)
//   out: (n_new, n_fused) int32 pair, n scores, n_new rows, n_new ids (int32); TLAST last.
module pruning #(
    parameter int MAX_N = 64,
    parameter int MAX_D = 256
) (
    input  logic                             clk,
    input  logic                             rst_n,
    input  logic [15:0]                      n,      // live rows, CLS first, 1..MAX_N
    input  logic [15:0]                      dim,    // multiple of 8
    input  logic [2:0]                       mode,   // sievit_pkg PRUNE_*: 1 threshold, 2 top-k, 3 EViT, 4 drop
    input  logic [15:0]                      k,      // top-k modes: candidates to keep
    input  logic [15:0]                      heads,  // EViT: the fused token's divisor is heads * 2^8
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

  localparam int NW = $clog2(MAX_N + 1);
  localparam int NSZ = 1 << NW;           // arrays indexed by exactly NW / DW bits
  localparam int DW = $clog2(MAX_D);
  localparam int DSZ = 1 << DW;
  localparam int CW = 20;
  localparam int SW = 16;                 // scores: Q0.8 (HeatViT) or Q0.8 x heads (EViT)
  localparam logic signed [31:0] PKG_ID = -32'sd1;

  typedef enum logic [3:0] {
    LOAD_X, LOAD_ID, LOAD_S, DECIDE, FUSE, DIV, OUT_HDR, OUT_S, OUT_X, OUT_ID
  } state_t;
  state_t state;

  // token rows, one memory word per row (RAM-mappable): a beat writes one 8-byte slice; a
  // read takes the whole row at one address (the fuse uses every channel, the output a slice)
  logic [8*DSZ-1:0] x[NSZ];
  logic signed [31:0] ids[NSZ];
  logic [SW-1:0] score[NSZ];
  logic keep[NSZ], fuse[NSZ];
  logic [NW-1:0] order[NSZ];          // new row -> source row (kept rows in order)
  logic signed [7:0] pkg[DSZ];
  logic signed [47:0] num[DSZ];       // per channel: sum of x * score
  logic signed [47:0] plain[DSZ];     // per channel: sum of x
  logic [31:0] wsum;
  logic [NW-1:0] cnt, n_kept;
  logic [CW-1:0] beat;
  logic [NW-1:0] brow;                // row and word of the token beat in LOAD_X / OUT_X
  logic [CW-1:0] bcol;
  logic [NW-1:0] t;                   // token being decided / fused
  logic [DW-1:0] ch;                  // channel being divided
  // package channels: div_round(num, den) = floor((2 num + den) / (2 den)) on the `udiv`,
  // with the floor of a negative numerator taken as -ceil(|N| / D)
  logic div_start, div_done, div_busy, div_pending, dneg;
  logic [47:0] div_num, div_den;      // |2 num + den| < 2^42
  logic [47:0] div_q;

  udiv #(.W(48), .BITS(8)) u_div (.clk, .rst_n, .start(div_start), .num(div_num), .den(div_den),
                        .quot(div_q), .busy(div_busy), .done(div_done));

  wire [CW-1:0] row_beats = CW'(dim / 16'(I8_PER_BEAT));
  wire [CW-1:0] x_beats = CW'(n) * row_beats;
  wire [CW-1:0] pair_beats = CW'((32'(n) + 1) / 2);
  wire [NW-1:0] n_new = n_kept + 1'b1 + NW'(cnt != 0);
  wire [CW-1:0] new_pair_beats = CW'((32'(n_new) + 1) / 2);
  wire [CW-1:0] new_x_beats = CW'(n_new) * row_beats;
  wire brow_end = (bcol == row_beats - 1'b1);
  wire b_fire = (state == LOAD_X && s_axis_tvalid) || (state == OUT_X && m_axis_tready);
  wire [CW-1:0] b_beats = (state == LOAD_X) ? x_beats : new_x_beats;

  always_ff @(posedge clk) begin
    if (!rst_n || (b_fire && beat == b_beats - 1'b1)) begin
      brow <= '0;
      bcol <= '0;
    end else if (b_fire) begin
      bcol <= brow_end ? '0 : bcol + 1'b1;
      brow <= brow_end ? brow + 1'b1 : brow;
    end
  end

  // decision of token t: a candidate is a live patch (HeatViT: not CLS, not the old package;
  // EViT: any live row but CLS)
  wire evit = (mode == PRUNE_EVIT);
  wire drop = (mode == PRUNE_DROP);
  function automatic logic is_cand(input logic [NW-1:0] r, input logic signed [31:0] id,
                                   input logic ev);
    is_cand = (r != 0) && (ev || id > 0);
  endfunction
  logic cand_t, keep_t;
  logic [NW-1:0] rank_t;
  always_comb begin
    cand_t = is_cand(t, ids[t], evit || drop);
    rank_t = '0;
    for (int j = 1; j < MAX_N; j++) begin
      if (NW'(j) < NW'(n) && is_cand(NW'(j), ids[NW'(j)], evit || drop) &&
          (score[NW'(j)] > score[t] || (score[NW'(j)] == score[t] && NW'(j) < t)))
        rank_t = rank_t + 1'b1;
    end
    if (mode == PRUNE_THRESHOLD) keep_t = cand_t && (score[t] >= SW'(128));
    else keep_t = cand_t && (32'(rank_t) < 32'(k));
  end

  // the divider's (numerator, denominator) for channel ch
  logic signed [63:0] d_n, d_d;
  always_comb begin
    if (evit) begin
      d_n = 64'sd2 * 64'(num[ch]) + (64'(heads) <<< 8);
      d_d = 64'(heads) <<< 9;
    end else if (wsum != 0) begin
      d_n = 64'sd2 * 64'(num[ch]) + 64'(wsum);
      d_d = 64'sd2 * 64'(wsum);
    end else begin
      d_n = 64'sd2 * 64'(plain[ch]) + 64'(cnt);
      d_d = 64'sd2 * 64'(cnt);
    end
  end

  // the one read of the row buffer: token t while fusing, the output row's source otherwise
  logic [8*DSZ-1:0] x_row;
  assign x_row = x[(state == FUSE) ? t : order[brow]];

  // output words
  logic [BEAT_BITS-1:0] out_word, x_word;
  logic [NW-1:0] out_row;
  logic [DW-1:0] out_c0;
  always_comb begin
    out_word = '0;
    out_row = brow;
    out_c0 = DW'(bcol * CW'(I8_PER_BEAT));
    x_word = x_row[64*out_c0[DW-1:3]+:64];
    unique case (state)
      OUT_HDR: out_word = {32'(cnt), 32'(n_new)};
      OUT_S: for (int l = 0; l < 2; l++) begin
        if (drop) begin       // the kept rows' scores, in their new order
          if (32'(beat) * 2 + l < 32'(n_new))
            out_word[32*l+:32] = 32'(score[order[NW'(32'(beat) * 2 + l)]]);
        end else if (32'(beat) * 2 + l < 32'(n)) begin
          out_word[32*l+:32] = 32'(score[NW'(32'(beat) * 2 + l)]);
        end
      end
      OUT_X:
        for (int l = 0; l < I8_PER_BEAT; l++)
          out_word[8*l+:8] = (out_row == n_kept + 1'b1) ? pkg[out_c0 + DW'(l)]
                                                      : x_word[8*l+:8];
      OUT_ID: for (int l = 0; l < 2; l++) begin
        if (32'(beat) * 2 + l < 32'(n_new))
          out_word[32*l+:32] = (NW'(32'(beat) * 2 + l) == n_kept + 1'b1)
                               ? PKG_ID : ids[order[NW'(32'(beat) * 2 + l)]];
      end
      default: out_word = '0;
    endcase
  end

  assign s_axis_tready = (state == LOAD_X) || (state == LOAD_ID) || (state == LOAD_S);
  assign m_axis_tvalid = (state == OUT_HDR) || (state == OUT_S) || (state == OUT_X) || (state == OUT_ID);
  assign m_axis_tdata = out_word;
  assign m_axis_tlast = (state == OUT_ID) && (beat == new_pair_beats - 1'b1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state <= LOAD_X;
      beat <= '0;
      t <= '0;
      ch <= '0;
      wsum <= '0;
      cnt <= '0;
      n_kept <= '0;
      div_start <= 1'b0;
      div_pending <= 1'b0;
      div_num <= '0;
      div_den <= '0;
      dneg <= 1'b0;
    end else begin
      div_start <= 1'b0;
      unique case (state)
        LOAD_X: if (s_axis_tvalid) begin
          x[brow][64*(DW-3)'(bcol)+:64] <= s_axis_tdata;
          if (beat == x_beats - 1'b1) begin
            state <= LOAD_ID;
            beat <= '0;
          end else beat <= beat + 1'b1;
        end
        LOAD_ID, LOAD_S: if (s_axis_tvalid) begin
          for (int l = 0; l < 2; l++) begin
            if (32'(beat) * 2 + l < 32'(n)) begin
              if (state == LOAD_ID) ids[NW'(32'(beat) * 2 + l)] <= s_axis_tdata[32*l+:32];
              else score[NW'(32'(beat) * 2 + l)] <= s_axis_tdata[32*l+:SW];
            end
          end
          if (beat == pair_beats - 1'b1) begin
            beat <= '0;
            if (state == LOAD_ID) state <= LOAD_S;
            else begin
              state <= DECIDE;
              t <= '0;
              n_kept <= '0;
              cnt <= '0;
              wsum <= '0;
              for (int c = 0; c < DSZ; c++) begin
                num[c] <= '0;
                plain[c] <= '0;
              end
            end
          end else beat <= beat + 1'b1;
        end
        DECIDE: begin  // one token per cycle: rank, keep, fuse flags and the new order
          keep[t] <= keep_t;
          fuse[t] <= !drop && ((cand_t && !keep_t) || (!evit && t != 0 && ids[t] == PKG_ID));
          if (t == 0 || keep_t) begin
            order[(t == 0) ? '0 : n_kept + 1'b1] <= t;
            if (t != 0) n_kept <= n_kept + 1'b1;
          end
          if (t == NW'(n) - 1'b1) begin
            state <= FUSE;
            t <= '0;
          end else t <= t + 1'b1;
        end
        FUSE: begin  // one token per cycle, all channels in parallel
          if (fuse[t]) begin
            wsum <= wsum + 32'(score[t]);
            cnt <= cnt + 1'b1;
            for (int c = 0; c < DSZ; c++) begin
              num[c] <= num[c] + 48'($signed(x_row[8*c+:8])) * $signed({32'd0, score[t]});
              plain[c] <= plain[c] + 48'($signed(x_row[8*c+:8]));
            end
          end
          if (t == NW'(n) - 1'b1) begin
            state <= (cnt != 0 || fuse[t]) ? DIV : OUT_HDR;
            ch <= '0;
            div_pending <= 1'b0;
            beat <= '0;
          end else t <= t + 1'b1;
        end
        DIV: if (!div_pending) begin  // channel ch: start its division
          dneg <= d_n < 0;
          div_num <= (d_n < 0) ? 48'(-d_n + d_d - 64'sd1) : 48'(d_n);
          div_den <= 48'(d_d);
          div_start <= 1'b1;
          div_pending <= 1'b1;
        end else if (div_done) begin
          // saturated like fuse_weighted (EViT's weights need not sum to the divisor)
          pkg[ch] <= sat8(dneg ? 64'sd0 - 64'(div_q) : 64'(div_q));
          div_pending <= 1'b0;
          if (16'(ch) == dim - 1'b1) state <= OUT_HDR;
          else ch <= ch + 1'b1;
        end
        OUT_HDR: if (m_axis_tready) state <= OUT_S;
        OUT_S: if (m_axis_tready) begin
          if (beat == (drop ? new_pair_beats : pair_beats) - 1'b1) begin
            state <= OUT_X;
            beat <= '0;
          end else beat <= beat + 1'b1;
        end
        OUT_X: if (m_axis_tready) begin
          if (beat == new_x_beats - 1'b1) begin
            state <= OUT_ID;
            beat <= '0;
          end else beat <= beat + 1'b1;
        end
        OUT_ID: if (m_axis_tready) begin
          if (beat == new_pair_beats - 1'b1) begin
            state <= LOAD_X;
            beat <= '0;
          end else beat <= beat + 1'b1;
        end
        default: state <= LOAD_X;
      endcase
    end
  end

  logic unused;
  assign unused = s_axis_tlast ^ keep[0] ^ div_busy;
endmodule
