// SPDX-License-Identifier: GPL-2.0
// A reference model of one shadow address space: VMAs as a sorted map,
// present pages and the words written to them.  Written for clarity, not
// speed.  It depends on the uapi header only, so the core's model test
// (test_model.cc) and the module's selftest (in the VM) share it.
#pragma once

#include <linux/types.h>

#include <cerrno>
#include <cstdint>
#include <iterator>
#include <map>
#include <set>
#include <string>

#include "shadowmm.h"

namespace smm_model {

class Model {
 public:
  // The space's page size (GET_INFO, smm_mm_info()): what a fault brings in.
  explicit Model(uint64_t page_size) : page(page_size) {}

  uint64_t page;

 public:
  // @anon: which anon_vma the VMA has (0: none yet).  The first fault of
  // a VMA gives it a new one, a split copies it, and VMAs with two
  // different ones never merge (VMAs without one merge with anything), as
  // in the kernel and the core.  @uffd: registered for missing faults;
  // only VMAs that agree on it merge.
  struct Vma {
    uint64_t end;
    uint64_t prot;
    uint64_t anon = 0;
    bool uffd = false;
  };
  uint64_t next_anon = 1;
  std::map<uint64_t, Vma> vmas;        // start -> VMA
  std::set<uint64_t> pages;            // present page addresses
  std::map<uint64_t, uint64_t> words;  // 8-aligned address -> value
  // Pages a resolver installed (a fault on a missing page of a registered
  // VMA): page address -> the word every unwritten word of it reads.
  std::map<uint64_t, uint64_t> fills;

  // What the model test's resolver installs at page @p: zeroes
  // (UFFD_ZEROPAGE) for one page in four, else a fill (UFFD_COPY) that
  // differs from page to page, so a page installed at the wrong address
  // or twice shows.
  static uint64_t uffd_fill(uint64_t p, uint64_t page_size) {
    return (p / page_size) % 4 == 0 ? 0 : 0xfeed000000000000ULL ^ p;
  }
  // The word at 8-aligned @a of a present page.
  uint64_t read(uint64_t a) const {
    auto wi = words.find(a);
    if (wi != words.end()) return wi->second;
    auto fi = fills.find(a & ~(page - 1));
    return fi == fills.end() ? 0 : fi->second;
  }

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
  // A new mapping joins neighbours it continues, as mmap_region() does.
  void map(uint64_t a, uint64_t len, uint64_t prot) {
    vmas[a] = {a + len, prot, 0};
    merge_around(a, len);
  }
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
    fills.erase(fills.lower_bound(a), fills.lower_bound(a + len));
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
    merge_around(a, len);
    return 0;
  }
  // Merges from the VMA before [a, a + len) up to the one starting at its
  // end: same protection, and anon_vmas that agree (or none).
  void merge_around(uint64_t a, uint64_t len) {
    auto it = vmas.lower_bound(a);
    if (it != vmas.begin()) --it;
    while (it != vmas.end()) {
      auto next = std::next(it);
      if (next == vmas.end() || next->first > a + len) break;
      const Vma &v = it->second, &n = next->second;
      if (next->first == v.end && n.prot == v.prot && n.uffd == v.uffd &&
          (!v.anon || !n.anon || v.anon == n.anon)) {
        it->second.end = n.end;
        if (!it->second.anon) it->second.anon = n.anon;
        vmas.erase(next);
        continue;
      }
      it = next;
    }
  }
  // FORK's child: the same VMAs, pages and words; each VMA that has an
  // anon_vma gets one of its own (anon_vma_fork()), so two the parent
  // could merge the child may not; no registration (the child has no
  // channel, as without UFFD_FEATURE_EVENT_FORK).
  Model fork() {
    Model child = *this;
    for (auto& [start, vma] : child.vmas) {
      if (vma.anon) vma.anon = child.next_anon++;
      vma.uffd = false;
    }
    return child;
  }
  // UFFD_REGISTER: all of it mapped (-ENOMEM), none of it registered
  // (-EBUSY).
  int uffd_register(uint64_t a, uint64_t len) {
    if (!covered(a, len)) return -ENOMEM;
    for (auto it = find(a); it != vmas.end() && it->first < a + len; ++it)
      if (it->second.uffd) return -EBUSY;
    set_uffd(a, len, true);
    return 0;
  }
  // UFFD_UNREGISTER: whatever is registered in the range, holes allowed.
  void uffd_unregister(uint64_t a, uint64_t len) { set_uffd(a, len, false); }
  // Splits, sets and merges as protect() does (the core's change_range()).
  void set_uffd(uint64_t a, uint64_t len, bool on) {
    split_at(a);
    split_at(a + len);
    for (auto it = vmas.lower_bound(a); it != vmas.end() && it->first < a + len; ++it)
      it->second.uffd = on;
    merge_around(a, len);
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
    const uint64_t p = a & ~(page - 1);
    // A missing page of a registered VMA: the resolver installs it.
    if (it->second.uffd && !pages.count(p)) fills[p] = uffd_fill(p, page);
    pages.insert(p);
    if (!it->second.anon) vmas[it->first].anon = next_anon++;
    uint64_t w = a & ~7ULL;
    if (write)
      words[w] = value;
    else
      *out = read(w);
    return 0;
  }
};

}  // namespace smm_model
