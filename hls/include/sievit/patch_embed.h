// Engine `patch_embed`: uint8 pixels -> (p - 128) at frac 7 -> patch linear -> CLS row,
// + position embedding (exact alignment), requantized to the embedding output frac.
// The image is read once in raster order (a burst, one pixel per cycle) and scattered into
// the patch matrix with counters (no division); the patch linear runs on the linear core,
// and the position rows are burst-read per token row and weight tile, word aligned.
#ifndef SIEVIT_PATCH_EMBED_H_
#define SIEVIT_PATCH_EMBED_H_

#include "linear.h"

namespace sievit {

typedef ap_uint<8> pixel_t;

struct patch_embed_desc {
  linear_desc lin;         // n_in = patch * patch * chans, kRaw-style accumulator
  int image_size, patch, chans, grid;
  int cls_off, pos_off;    // int8 CLS [dim] and position [(grid^2 + 1) rows] in weight memory
  int frac_cls, frac_pos, frac_out;
  int pos_stride;          // bytes between position rows (dim rounded up to a word)
};

// The linear core's write-back for the patch rows: token t + 1 = patch t, plus its position.
template <class CFG>
struct embed_sink {
  const patch_embed_desc& d;
  const ap_uint<CFG::word_bits>* wmem;
  act_t (*x)[CFG::max_w];
  wgt_t pos[CFG::w_tile_rows];
  int r0;
  void begin_row(int t, int r0_, int rows) {
    r0 = r0_;
    load_i8<CFG, CFG::w_tile_rows>(wmem, d.pos_off + (t + 1) * d.pos_stride + r0, rows, pos);
  }
  void put(int t, int o, typename lin_types<CFG>::acc acc) {
    typedef typename lin_types<CFG>::epi epi_t;
    const int fa = d.lin.frac_acc;
    const int f = fa > d.frac_cls ? fa : d.frac_cls;
    const int f2 = f > d.frac_pos ? f : d.frac_pos;
    const epi_t s = (epi_t(acc) << (f2 - fa)) + (epi_t(pos[o - r0]) << (f2 - d.frac_pos));
    x[t + 1][o] = requant<CFG::epi_bits>(s, f2, d.frac_out);
  }
};

// image: HWC uint8. Writes rows 0 (CLS) .. grid^2 of x.
template <class CFG>
void patch_embed(const patch_embed_desc& d, const pixel_t* image,
                 const ap_uint<CFG::word_bits>* wmem, const ap_uint<CFG::word_bits>* bmem,
                 act_t x[CFG::max_n][CFG::max_w]) {
  typedef typename lin_types<CFG>::epi epi_t;
  static act_t p[CFG::max_n][CFG::max_w];
  static wgt_t cls[CFG::max_w], pos0[CFG::max_w];
#pragma HLS ARRAY_PARTITION variable = p cyclic factor = CFG::lanes dim = 2
#pragma HLS ARRAY_PARTITION variable = cls cyclic factor = CFG::word_bits / 8
#pragma HLS ARRAY_PARTITION variable = pos0 cyclic factor = CFG::word_bits / 8
  const int pc = d.patch * d.chans;               // bytes of one patch row
  const int n_pix = d.image_size * d.image_size * d.chans;
  int tok0 = 0, tok = 0, ri = 0, ci = 0, gx = 0, py = 0;
  for (int pix = 0; pix < n_pix; ++pix) {  // raster order: row, column, channel
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::image_pixels
#pragma HLS PIPELINE II = 1
    p[tok][ri + ci] = act_t(ap_int<9>(image[pix]) - 128);
    if (ci < pc - 1) {
      ++ci;
    } else if (gx < d.grid - 1) {
      ci = 0;
      ++gx;
      ++tok;
    } else {  // end of an image row
      ci = 0;
      gx = 0;
      if (py < d.patch - 1) {
        ++py;
        ri += pc;
      } else {
        py = 0;
        ri = 0;
        tok0 += d.grid;
      }
      tok = tok0;
    }
  }
  const int n_patch = d.grid * d.grid;
  embed_sink<CFG> sink = {d, wmem, x, {}, 0};
  linear_core<CFG>(d.lin, p, n_patch, wmem, bmem, sink);
  load_i8<CFG, CFG::max_w>(wmem, d.cls_off, d.lin.n_out, cls);
  load_i8<CFG, CFG::max_w>(wmem, d.pos_off, d.lin.n_out, pos0);
  const int f = d.lin.frac_acc > d.frac_cls ? d.lin.frac_acc : d.frac_cls;
  const int f2 = f > d.frac_pos ? f : d.frac_pos;
  for (int o = 0; o < d.lin.n_out; ++o) {  // the CLS row
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w
#pragma HLS PIPELINE II = 1
    const epi_t s = (epi_t(cls[o]) << (f2 - d.frac_cls)) + (epi_t(pos0[o]) << (f2 - d.frac_pos));
    x[0][o] = requant<CFG::epi_bits>(s, f2, d.frac_out);
  }
}

}  // namespace sievit

#endif  // SIEVIT_PATCH_EMBED_H_
