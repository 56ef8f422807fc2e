// Whole-model C-simulation testbench: runs sievit_top on the images in tb_data and compares
// logits and kept-token ids with the golden model's vectors, bit for bit.
// usage: tb_model WEIGHTS.bin BIASES.bin IMAGES.bin EXPECTED.bin MODE [FIRST COUNT]
// Prints one JSON line; exit 1 on any mismatch.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../firmware/sievit_top.h"
#include "tb_io.h"

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s WEIGHTS BIASES IMAGES EXPECTED MODE [FIRST COUNT]\n", argv[0]);
    return 2;
  }
  using namespace sievit;
  static word_t weights[kNumWeightWords];
  static word_t biases[kNumBiasWords];
  if (!sievit_tb::pack_memories(argv[1], argv[2], weights, kNumWeightWords, biases, kNumBiasWords)) {
    std::fprintf(stderr, "tb: weight/bias files do not match parameters.h\n");
    return 3;
  }
  const std::vector<unsigned char> pixels = sievit_tb::read_blob<unsigned char>(argv[3]);
  const int mode = std::atoi(argv[5]);
  const long n_images = long(pixels.size()) / kImagePixels;
  const long first = argc > 6 ? std::atol(argv[6]) : 0;
  const long count = argc > 7 ? std::atol(argv[7]) : n_images - first;
  sievit_tb::Reader exp(argv[4]);
  const int per_image = kClasses + kStages * (1 + kMaxTokens);
  exp.vec(first * per_image);  // skip
  long mismatches = 0, logit_mismatches = 0, kept_mismatches = 0;
  static pixel_t image[kImagePixels];
  for (long img = first; img < first + count; ++img) {
    for (long p = 0; p < kImagePixels; ++p) image[p] = pixels[img * kImagePixels + p];
    acc_t logits[kClasses];
    tok_id_t kept[kStages][kMaxTokens];
    tok_id_t n_tokens[kStages];
    sievit_top(image, weights, biases, mode, logits, kept, n_tokens);
    const std::vector<int> e = exp.vec(per_image);
    bool bad_logits = false, bad_kept = false;
    for (int c = 0; c < kClasses; ++c) bad_logits |= int(logits[c]) != e[c];
    for (int s = 0; s < kStages && mode != 0; ++s) {
      const int* es = &e[kClasses + s * (1 + kMaxTokens)];
      bad_kept |= int(n_tokens[s]) != es[0];
      for (int t = 0; t < kMaxTokens; ++t) bad_kept |= int(kept[s][t]) != es[1 + t];
    }
    if (bad_logits || bad_kept) {
      if (mismatches == 0) {
        std::fprintf(stderr, "tb: first mismatch at image %ld:", img);
        for (int c = 0; c < kClasses; ++c) std::fprintf(stderr, " %d/%d", int(logits[c]), e[c]);
        std::fprintf(stderr, "\n");
        // the first differing output in dataflow order (csim.py parses this line)
        bool named = false;
        for (int s = 0; s < kStages && mode != 0 && !named; ++s) {
          const int* es = &e[kClasses + s * (1 + kMaxTokens)];
          if (int(n_tokens[s]) != es[0]) {
            std::fprintf(stderr, "tb: first difference: image %ld, stage %d token count[0]: hls %d, golden %d\n",
                         img, s, int(n_tokens[s]), es[0]);
            named = true;
          }
          for (int t = 0; t < kMaxTokens && !named; ++t)
            if (int(kept[s][t]) != es[1 + t]) {
              std::fprintf(stderr, "tb: first difference: image %ld, stage %d kept ids[%d]: hls %d, golden %d\n",
                           img, s, t, int(kept[s][t]), es[1 + t]);
              named = true;
            }
        }
        for (int c = 0; c < kClasses && !named; ++c)
          if (int(logits[c]) != e[c]) {
            std::fprintf(stderr, "tb: first difference: image %ld, logits[%d]: hls %d, golden %d\n",
                         img, c, int(logits[c]), e[c]);
            named = true;
          }
      }
      ++mismatches;
      logit_mismatches += bad_logits;
      kept_mismatches += bad_kept;
    }
  }
  std::printf("{\"images\": %ld, \"mismatches\": %ld, \"logit_mismatches\": %ld, "
              "\"kept_mismatches\": %ld, \"mode\": %d}\n",
              count, mismatches, logit_mismatches, kept_mismatches, mode);
  return mismatches ? 1 : 0;
}
