// SPDX-License-Identifier: GPL-2.0
//
// ebizzy's options, parsed from ebizzy's own command line so its users can
// paste theirs: shadowmm-bench --workload=ebizzy --ebizzy="-mTRp -n 20".
// Meanings and defaults are those of ebizzy 0.3 (read_options() and usage()
// of ebizzy.c, as carried in LTP's utils/benchmark/ebizzy-0.3):
//
//   -m       always mmap() each allocation (chunks and per-record copies)
//   -M       never mmap (ebizzy: mallopt(M_MMAP_MAX, 0))
//   -n N     number of memory chunks (default 10)
//   -p       prevent VMA merging by permissions: mprotect every even chunk
//            read-only after writing its pattern
//   -P       prevent merging by holes: map a page after each chunk, unmap
//            it once all chunks are mapped
//   -R       random copy size: (rand(chunk_size / record) + 1) records
//   -s N     chunk size in bytes (default 64 Ki records = 512 KiB)
//   -S N     seconds to run (default 10)
//   -t N     threads (default 2 x online CPUs)
//   -T       just touch (store 0xff into) each page of the copy instead of
//            copying the chunk and searching it
//   -l       copy with ebizzy's own byte-at-a-time loop, not memcpy()
//   -z       linear search instead of bsearch()
//   -v       verbose (settings printed before the run)
//
// A record is one iteration of ebizzy's search_mem(): pick a chunk and a
// size, allocate the copy (-m: mmap; else malloc), then either touch each
// of its pages (-T) or copy the chunk into it and search the copy for a
// random key, and free it.  Stock calls what ebizzy calls; the shadow
// backends copy and search the same bytes in the core (COPY, SEARCH), and
// their malloc() is one mapping per thread, reused, as glibc's heap serves
// a freed chunk again once the first free() has raised its mmap threshold.
#ifndef SHADOWMM_HARNESS_EBIZZY_H_
#define SHADOWMM_HARNESS_EBIZZY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shadowmm {

struct EbizzyOptions {
  // record_t is size_t.
  static constexpr uint64_t kRecordSize = sizeof(uint64_t);

  bool always_mmap = false;                       // -m
  bool never_mmap = false;                        // -M
  bool use_permissions = false;                   // -p
  bool use_holes = false;                         // -P
  bool random_size = false;                       // -R
  bool touch_pages = false;                       // -T
  bool no_lib_memcpy = false;                     // -l
  bool linear = false;                            // -z
  unsigned verbose = 0;                           // -v
  uint64_t chunks = 10;                           // -n
  uint64_t chunk_size = kRecordSize * 64 * 1024;  // -s
  std::optional<unsigned> threads;                // -t
  std::optional<unsigned> seconds;                // -S
};

// Parses ebizzy's flags (getopt's "lmMn:pPRs:S:t:vzT", clustered or not,
// numbers as strtoul base 0).  Returns "" or a one-line error.
std::string ParseEbizzyFlags(std::string_view flags, EbizzyOptions* options);

// ebizzy's rand_num(): (state / 65536) % max over a 32-bit state, every
// thread starting from state 0.  kEbizzy03 (the default, --ebizzy_rng=0.3)
// is the expression the 0.3 sources carry, `*state *= 1103515245 + 12345`,
// which never leaves 0: every record takes chunk 0, with -R a one-record
// (one-page) copy, and key 0.  kLcgFixed (--ebizzy_rng=lcg-fixed) is the
// LCG it was meant to be, state = state * 1103515245 + 12345, seeded with
// 0 as 0.3 seeds it (so its first chunk is 0 and its first state 12345).
enum class EbizzyRng { kEbizzy03, kLcgFixed };
std::optional<EbizzyRng> ParseEbizzyRng(std::string_view name);
std::string_view EbizzyRngName(EbizzyRng rng);

inline unsigned EbizzyRand(unsigned max, uint32_t* state, EbizzyRng rng) {
  if (rng == EbizzyRng::kLcgFixed)
    *state = *state * 1103515245u + 12345u;
  else
    *state *= 1103515245u + 12345u;
  return (*state / 65536) % max;
}

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_EBIZZY_H_
