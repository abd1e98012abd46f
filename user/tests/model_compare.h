// SPDX-License-Identifier: GPL-2.0
// Compares an in-process space with the reference model (model.h): VMAs,
// every present page, every written word, then the core's own checker.
#pragma once

#include <string>

#include "model.h"
#include "smm_test.h"

namespace smm_test {

using smm_model::Model;

// Empty if the space matches the model, else the first difference.  A
// space in a fork family (@alone false) shares its page and slot totals
// with its relatives, so only its own VMAs, pages and words are compared.
inline std::string compare(const Space& s, const Model& m, bool alone = true) {
  auto v = s.vmas();
  if (v.size() != m.vmas.size())
    return "VMA count " + std::to_string(v.size()) + " vs model " + std::to_string(m.vmas.size());
  size_t i = 0;
  for (const auto& [start, vma] : m.vmas) {
    if (v[i].start != start || v[i].end != vma.end || v[i].prot != vma.prot)
      return "VMA " + std::to_string(i) + " differs at " + std::to_string(start);
    i++;
  }
  if (alone) {
    // A page of the model is resident or swapped out (one slot each: no
    // page is shared without fork).
    const auto st = s.stats();
    const uint64_t swapped =
        st.counter[SHADOWMM_EV_SWAP_SLOT_ALLOC] - st.counter[SHADOWMM_EV_SWAP_SLOT_FREE];
    if (st.pages_live + swapped != m.pages.size())
      return "pages " + std::to_string(st.pages_live) + " + swapped " + std::to_string(swapped) +
             " vs model " + std::to_string(m.pages.size());
    // Memory used is memory counted: the shim's shadow-page bytes (this is
    // the only space) are the pages counted, each of the space's size.
    if (uint64_t(smm_shim_bytes_live(SHIM_ALLOC_PAGE)) != st.pages_live * m.page)
      return "page bytes " + std::to_string(smm_shim_bytes_live(SHIM_ALLOC_PAGE)) + " vs " +
             std::to_string(st.pages_live) + " pages of " + std::to_string(m.page);
  }
  // Present, and its last word (unwritten in most pages: zero, or what a
  // resolver filled it with) as the model says.
  for (uint64_t p : m.pages) {
    __u64 val;
    const uint64_t last = p + m.page - 8;
    if (smm_mm_peek(s.get(), last, &val) != 1) return "page missing at " + std::to_string(p);
    if (val != m.read(last)) return "last word of the page at " + std::to_string(p) + " differs";
  }
  for (const auto& [a, want] : m.words) {
    __u64 val = 0;
    smm_mm_peek(s.get(), a, &val);
    if (val != want) return "word at " + std::to_string(a) + " differs";
  }
  return s.validate();
}

}  // namespace smm_test
