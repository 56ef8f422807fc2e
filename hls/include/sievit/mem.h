// Weight and bias memories behind wide m_axi words (CFG::word_bits, 128..512 bits): every
// array starts on a word boundary (the generator pads), so each helper is one burst read at
// II = 1 that unpacks a whole word per cycle into an on-chip buffer the engine then reuses.
// Byte j of a weight word is bits [8j+7 : 8j]; int32 j of a bias word is bits [32j+31 : 32j].
#ifndef SIEVIT_MEM_H_
#define SIEVIT_MEM_H_

#include "types.h"

namespace sievit {

template <class CFG>
struct mem {
  typedef ap_uint<CFG::word_bits> word_t;
  static const int wbytes = CFG::word_bits / 8;    // int8 per word
  static const int bwords = CFG::word_bits / 32;   // int32 per word
};

// dst[0 .. count) = int8 at byte offset `off` (a multiple of the word size).
template <class CFG, int MAX>
void load_i8(const ap_uint<CFG::word_bits>* wmem, int off, int count, wgt_t dst[MAX]) {
  const int WB = mem<CFG>::wbytes;
  const int words = (count + WB - 1) / WB;
  const int base = off / WB;
  for (int w = 0; w < words; ++w) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = (MAX + CFG::word_bits / 8 - 1) / (CFG::word_bits / 8)
#pragma HLS PIPELINE II = 1
    const ap_uint<CFG::word_bits> word = wmem[base + w];
    for (int j = 0; j < WB; ++j) {
#pragma HLS UNROLL
      if (w * WB + j < MAX) dst[w * WB + j] = wgt_t(word.range(8 * j + 7, 8 * j));
    }
  }
}

// dst[0 .. count) = int32 at word offset `off` (a multiple of the int32 per word).
template <class CFG, int MAX>
void load_i32(const ap_uint<CFG::word_bits>* bmem, int off, int count, bias_t dst[MAX]) {
  const int BW = mem<CFG>::bwords;
  const int words = (count + BW - 1) / BW;
  const int base = off / BW;
  for (int w = 0; w < words; ++w) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = (MAX + CFG::word_bits / 32 - 1) / (CFG::word_bits / 32)
#pragma HLS PIPELINE II = 1
    const ap_uint<CFG::word_bits> word = bmem[base + w];
    for (int j = 0; j < BW; ++j) {
#pragma HLS UNROLL
      if (w * BW + j < MAX) dst[w * BW + j] = bias_t(word.range(32 * j + 31, 32 * j));
    }
  }
}

// A weight tile as LANES-byte chunks: dst[c][l] = byte off + c * LANES + l. One word (CPW
// chunks) per cycle; dst is partitioned cyclic CPW on chunks and completely on lanes.
template <class CFG, int MAX_CHUNKS>
void load_chunks(const ap_uint<CFG::word_bits>* wmem, int off, int bytes,
                 wgt_t dst[MAX_CHUNKS][CFG::lanes]) {
  const int WB = mem<CFG>::wbytes;
  const int CPW = WB / CFG::lanes;  // chunks per word
  const int words = (bytes + WB - 1) / WB;
  const int base = off / WB;
  for (int w = 0; w < words; ++w) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = CFG::tile_words
#pragma HLS PIPELINE II = 1
    const ap_uint<CFG::word_bits> word = wmem[base + w];
    for (int j = 0; j < CPW; ++j) {
#pragma HLS UNROLL
      for (int l = 0; l < CFG::lanes; ++l) {
#pragma HLS UNROLL
        if (w * CPW + j < MAX_CHUNKS)
          dst[w * CPW + j][l] = wgt_t(word.range(8 * (j * CFG::lanes + l) + 7, 8 * (j * CFG::lanes + l)));
      }
    }
  }
}

}  // namespace sievit

#endif  // SIEVIT_MEM_H_
