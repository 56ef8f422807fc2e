// Small binary readers for the sievit testbenches: little-endian int32 files.
#ifndef SIEVIT_TB_IO_H_
#define SIEVIT_TB_IO_H_

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace sievit_tb {

class Reader {
 public:
  explicit Reader(const char* path) : f_(std::fopen(path, "rb")), path_(path) {
    if (!f_) {
      std::fprintf(stderr, "tb: cannot open %s\n", path);
      std::exit(3);
    }
  }
  ~Reader() { std::fclose(f_); }
  int i32() {
    int v = 0;
    if (std::fread(&v, sizeof(int), 1, f_) != 1) {
      std::fprintf(stderr, "tb: %s is truncated\n", path_);
      std::exit(3);
    }
    return v;
  }
  std::vector<int> vec(long n) {
    std::vector<int> v(n > 0 ? n : 0);
    if (n > 0 && std::fread(v.data(), sizeof(int), n, f_) != size_t(n)) {
      std::fprintf(stderr, "tb: %s is truncated\n", path_);
      std::exit(3);
    }
    return v;
  }

 private:
  std::FILE* f_;
  const char* path_;
};

template <class T>
std::vector<T> read_blob(const char* path) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::fprintf(stderr, "tb: cannot open %s\n", path);
    std::exit(3);
  }
  std::fseek(f, 0, SEEK_END);
  const long bytes = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  std::vector<T> v(bytes / sizeof(T));
  if (!v.empty() && std::fread(v.data(), sizeof(T), v.size(), f) != v.size()) {
    std::fprintf(stderr, "tb: cannot read %s\n", path);
    std::exit(3);
  }
  std::fclose(f);
  return v;
}

// Pack the byte / int32 memory files into the engines' wide m_axi words (little endian:
// byte j of a word in bits [8j+7 : 8j], int32 j in bits [32j+31 : 32j]). false: size mismatch.
template <class WORD>
bool pack_memories(const char* wpath, const char* bpath, WORD* weights, long n_wwords,
                   WORD* biases, long n_bwords) {
  const std::vector<signed char> wbytes = read_blob<signed char>(wpath);
  const std::vector<int> bwords = read_blob<int>(bpath);
  const int wb = WORD::width / 8, bw = WORD::width / 32;
  if (long(wbytes.size()) != n_wwords * wb || long(bwords.size()) != n_bwords * bw) return false;
  for (long i = 0; i < n_wwords; ++i) {
    weights[i] = 0;
    for (int j = 0; j < wb; ++j) weights[i].range(8 * j + 7, 8 * j) = (unsigned char)wbytes[i * wb + j];
  }
  for (long i = 0; i < n_bwords; ++i) {
    biases[i] = 0;
    for (int j = 0; j < bw; ++j) biases[i].range(32 * j + 31, 32 * j) = (unsigned)bwords[i * bw + j];
  }
  return true;
}

}  // namespace sievit_tb

#endif  // SIEVIT_TB_IO_H_
