// Engine `patch_embed`: uint8 pixels -> (p - 128) at frac 7 -> patch linear -> CLS row,
// + position embedding (exact alignment), requantized to the embedding output frac.
#ifndef SIEVIT_PATCH_EMBED_H_
#define SIEVIT_PATCH_EMBED_H_

#include "linear.h"

namespace sievit {

typedef ap_uint<8> pixel_t;

struct patch_embed_desc {
  linear_desc lin;         // n_in = patch * patch * chans, kRaw-style accumulator
  int image_size, patch, chans, grid;
  int cls_off, pos_off;    // int8 CLS [dim] and position [(grid^2 + 1) x dim] in weight memory
  int frac_cls, frac_pos, frac_out;
};

// image: HWC uint8. Writes rows 0 (CLS) .. grid^2 of x.
template <class CFG>
void patch_embed(const patch_embed_desc& d, const pixel_t* image, const wgt_t* wmem,
                 const bias_t* bmem, act_t x[CFG::max_n][CFG::max_w]) {
  static act_t p[CFG::max_n][CFG::max_w];
  const int n_patch = d.grid * d.grid;
  for (int t = 0; t < n_patch; ++t) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n)
    const int gy = t / d.grid, gx = t % d.grid;
    for (int i = 0; i < d.lin.n_in; ++i) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w)
SIEVIT_HLS(HLS PIPELINE II = 1)
      const int c = i % d.chans, px = (i / d.chans) % d.patch, py = i / (d.chans * d.patch);
      const int row = gy * d.patch + py, col = gx * d.patch + px;
      p[t][i] = act_t(int(image[(row * d.image_size + col) * d.chans + c]) - 128);
    }
  }
  const int fa = d.lin.frac_acc;
  const int f = fa > d.frac_cls ? fa : d.frac_cls;
  const int f2 = f > d.frac_pos ? f : d.frac_pos;
  for (int t = 0; t <= n_patch; ++t) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_n)
    for (int o = 0; o < d.lin.n_out; ++o) {
SIEVIT_HLS(HLS LOOP_TRIPCOUNT min = 1 max = CFG::max_w)
      const i64 tok = t == 0 ? rshift_floor(wmem[d.cls_off + o], d.frac_cls - f)
                             : rshift_floor(linear_dot<CFG>(p[t - 1], 0, wmem, d.lin, o, bmem), fa - f);
      const i64 s = rshift_floor(tok, f - f2) +
                    rshift_floor(wmem[d.pos_off + t * d.lin.n_out + o], d.frac_pos - f2);
      x[t][o] = requant(s, f2, d.frac_out);
    }
  }
}

}  // namespace sievit

#endif  // SIEVIT_PATCH_EMBED_H_
