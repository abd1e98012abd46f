// SPDX-License-Identifier: GPL-2.0
// A reference model of one shadow address space: VMAs as a sorted map,
// present pages and the words written to them.  Written for clarity, not
// speed; the model test compares the core against it after every step.
#pragma once

#include <cerrno>
#include <cstdint>
#include <iterator>
#include <map>
#include <set>

#include "smm_test.h"

namespace smm_test {

class Model {
 public:
  struct Vma {
    uint64_t end;
    uint64_t prot;
  };
  std::map<uint64_t, Vma> vmas;         // start -> VMA
  std::set<uint64_t> pages;             // present page addresses
  std::map<uint64_t, uint64_t> words;   // 8-aligned address -> value

  bool range_free(uint64_t a, uint64_t len) const {
    auto it = vmas.lower_bound(a + len);
    if (it == vmas.begin()) return true;
    --it;
    return it->second.end <= a;
  }
  // The VMA containing @a, or end().
  std::map<uint64_t, Vma>::const_iterator find(uint64_t a) const {
    auto it = vmas.upper_bound(a);
    if (it == vmas.begin()) return vmas.end();
    --it;
    return a < it->second.end ? it : vmas.end();
  }
  bool covered(uint64_t a, uint64_t len) const {
    uint64_t at = a;
    while (at < a + len) {
      auto it = find(at);
      if (it == vmas.end()) return false;
      at = it->second.end;
    }
    return true;
  }
  void map(uint64_t a, uint64_t len, uint64_t prot) { vmas[a] = {a + len, prot}; }
  void split_at(uint64_t a) {
    auto it = find(a);
    if (it == vmas.end() || it->first == a) return;
    Vma right = it->second;
    vmas[it->first].end = a;
    vmas[a] = right;
  }
  void drop_pages(uint64_t a, uint64_t len) {
    pages.erase(pages.lower_bound(a), pages.lower_bound(a + len));
    words.erase(words.lower_bound(a), words.lower_bound(a + len));
  }
  void unmap(uint64_t a, uint64_t len) {
    split_at(a);
    split_at(a + len);
    vmas.erase(vmas.lower_bound(a), vmas.lower_bound(a + len));
    drop_pages(a, len);
  }
  int protect(uint64_t a, uint64_t len, uint64_t prot) {
    if (!covered(a, len)) return -ENOMEM;
    split_at(a);
    split_at(a + len);
    for (auto it = vmas.lower_bound(a); it != vmas.end() && it->first < a + len; ++it)
      it->second.prot = prot;
    // Merge from the VMA before the range up to the one starting at its end.
    auto it = vmas.lower_bound(a);
    if (it != vmas.begin()) --it;
    while (it != vmas.end()) {
      auto next = std::next(it);
      if (next == vmas.end() || next->first > a + len) break;
      if (next->first == it->second.end && next->second.prot == it->second.prot) {
        it->second.end = next->second.end;
        vmas.erase(next);
        continue;
      }
      it = next;
    }
    return 0;
  }
  int zap(uint64_t a, uint64_t len) {
    if (!covered(a, len)) return -ENOMEM;
    drop_pages(a, len);
    return 0;
  }
  // Returns the errno a fault must give; applies it if it succeeds.
  int fault(uint64_t a, bool write, uint64_t value, uint64_t* out) {
    auto it = find(a);
    if (it == vmas.end()) return -EFAULT;
    uint64_t prot = it->second.prot;
    if (write ? !(prot & SHADOWMM_PROT_WRITE) : prot == SHADOWMM_PROT_NONE) return -EFAULT;
    pages.insert(a & ~(kPage - 1));
    uint64_t w = a & ~7ULL;
    if (write) {
      words[w] = value;
    } else {
      auto wi = words.find(w);
      *out = wi == words.end() ? 0 : wi->second;
    }
    return 0;
  }
};

// Empty if the space matches the model, else the first difference.
inline std::string compare(const Space& s, const Model& m) {
  auto v = s.vmas();
  if (v.size() != m.vmas.size())
    return "VMA count " + std::to_string(v.size()) + " vs model " + std::to_string(m.vmas.size());
  size_t i = 0;
  for (const auto& [start, vma] : m.vmas) {
    if (v[i].start != start || v[i].end != vma.end || v[i].prot != vma.prot)
      return "VMA " + std::to_string(i) + " differs at " + std::to_string(start);
    i++;
  }
  if (s.stats().pages_live != m.pages.size())
    return "pages " + std::to_string(s.stats().pages_live) + " vs model " +
           std::to_string(m.pages.size());
  for (uint64_t p : m.pages) {
    __u64 val;
    if (smm_mm_peek(s.get(), p, &val) != 1) return "page missing at " + std::to_string(p);
  }
  for (const auto& [a, want] : m.words) {
    __u64 val = 0;
    smm_mm_peek(s.get(), a, &val);
    if (val != want) return "word at " + std::to_string(a) + " differs";
  }
  return s.validate();
}

}  // namespace smm_test
