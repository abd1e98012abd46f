// SPDX-License-Identifier: GPL-2.0
// The random steps of the model tests and how one is applied to a space and
// to the reference model (model.h) alike.  Templated on the space, so the
// in-process test (test_model.cc, a smm_test::Space) and the module's model
// run in the VM (module_model.cc, an ioctl-backed space) share them.  A
// space needs map(addr, len, prot[, flags, &out]), unmap, protect, zap,
// fault(addr, write, value, &out), uffd_register and uffd_unregister
// (addr, len), returning 0 or a negative errno.  With registered ranges
// a fault may wait: the caller runs a resolver (uffd_resolve()).
#pragma once

#include <algorithm>
#include <random>
#include <string>
#include <utility>

#include "model.h"

namespace smm_model {

// 1024 pages: two PTE tables of 4 KiB pages, 32 of 64 KiB pages, so table
// freeing and sharing both happen in every geometry.
constexpr uint64_t kWindow = 0x40000000;
constexpr uint64_t kWindowPages = 1024;

struct Step {
  int op;
  uint64_t addr, len, prot;
  bool write;
  uint64_t value;
};

enum { kOpRegister = 10, kOpUnregister = 11 };

// @page_size: the space's.  @uffd (the model, or null): one step in six
// registers or unregisters a range, three times in four a part of one
// of the model's VMAs (a random range is rarely all mapped); a fault
// that picks a registered VMA that way faults in it.
inline Step random_step(std::mt19937_64& rng, uint64_t page_size, const Model* uffd = nullptr) {
  Step st{};
  st.op = static_cast<int>(rng() % 10);
  if (uffd && rng() % 6 == 0) st.op = rng() % 2 ? kOpRegister : kOpUnregister;
  uint64_t page = rng() % kWindowPages;
  st.addr = kWindow + page * page_size;
  st.len = (1 + rng() % std::min<uint64_t>(48, kWindowPages - page)) * page_size;
  if (uffd && !uffd->vmas.empty() && rng() % 4) {
    auto it = std::next(uffd->vmas.begin(), static_cast<long>(rng() % uffd->vmas.size()));
    const uint64_t pages = (it->second.end - it->first) / page_size;
    const uint64_t first = rng() % pages;
    if (st.op >= kOpRegister) {
      st.addr = it->first + first * page_size;
      st.len = (1 + rng() % (pages - first)) * page_size;
    } else if (st.op >= 5 && it->second.uffd) {
      st.addr = it->first + first * page_size;  // a fault in a registered VMA
    }
  }
  st.prot = rng() % 3 == 0   ? SHADOWMM_PROT_READ
            : rng() % 5 == 0 ? SHADOWMM_PROT_NONE
                             : (SHADOWMM_PROT_READ | SHADOWMM_PROT_WRITE);
  st.write = rng() % 2;
  st.value = rng();
  if (st.op >= 5 && st.op < kOpRegister)
    st.addr += (rng() % (page_size / 8)) * 8;  // a fault: anywhere in a page
  return st;
}

// Runs @st on both; under fail-Nth an -ENOMEM must leave the model as is.
template <class Space>
std::string apply(const Space& s, Model& m, const Step& st, bool may_fail) {
  int got = 0, want = 0;
  uint64_t out = 0, model_out = 0;
  switch (st.op) {
    case 0: {  // fixed map
      got = s.map(st.addr, st.len, st.prot);
      want = m.range_free(st.addr, st.len) ? 0 : -EEXIST;
      if (got == 0 && want == 0) m.map(st.addr, st.len, st.prot);
      break;
    }
    case 1: {  // kernel-chosen map
      got = s.map(st.addr, st.len, st.prot, 0, &out);
      if (got == 0) {
        if (!m.range_free(out, st.len)) return "map chose a taken range";
        m.map(out, st.len, st.prot);
        // Keep the model test inside the window it compares.
        int ret = s.unmap(out, st.len);
        if (ret == 0)
          m.unmap(out, st.len);
        else if (!(may_fail && ret == -ENOMEM))
          return "unmap of chosen range failed: " + std::to_string(ret);
      }
      want = 0;
      break;
    }
    case 2:
      got = s.unmap(st.addr, st.len);
      if (got == 0) m.unmap(st.addr, st.len);
      want = 0;
      break;
    case 3:
      got = s.protect(st.addr, st.len, st.prot);
      want = m.covered(st.addr, st.len) ? 0 : -ENOMEM;
      if (got == 0 && want == 0) m.protect(st.addr, st.len, st.prot);
      break;
    case 4:
      got = s.zap(st.addr, st.len);
      want = m.covered(st.addr, st.len) ? 0 : -ENOMEM;
      if (got == 0 && want == 0) m.zap(st.addr, st.len);
      break;
    case kOpRegister: {
      got = s.uffd_register(st.addr, st.len);
      Model trial = m;
      want = trial.uffd_register(st.addr, st.len);
      if (got == 0 && want == 0) m = std::move(trial);
      break;
    }
    case kOpUnregister:
      got = s.uffd_unregister(st.addr, st.len);
      if (got == 0) m.uffd_unregister(st.addr, st.len);
      want = 0;
      break;
    default: {
      got = s.fault(st.addr, st.write, st.value, &out);
      Model trial = m;
      want = trial.fault(st.addr, st.write, st.value, &model_out);
      if (got == 0 && want == 0) {
        m = std::move(trial);
        if (!st.write && out != model_out) return "fault read a wrong value";
      }
      break;
    }
  }
  if (got != want && !(may_fail && got == -ENOMEM))
    return "op " + std::to_string(st.op) + " returned " + std::to_string(got) + ", model " +
           std::to_string(want);
  return "";
}

// What a resolver does with an event at @addr: installs the page the
// model expects there (Model::uffd_fill()).  @copy_fill(page, value) is
// UFFD_COPY with SHADOWMM_UFFD_FILL, @zeropage(page) UFFD_ZEROPAGE.
// -EEXIST and -ENOENT are not errors: the page came or its range went
// another way (a zap and a second fault, an unregister) before this.
template <class CopyFill, class Zeropage>
int uffd_resolve(uint64_t addr, uint64_t page_size, CopyFill copy_fill, Zeropage zeropage) {
  const uint64_t p = addr & ~(page_size - 1);
  const uint64_t fill = Model::uffd_fill(p, page_size);
  const int ret = fill ? copy_fill(p, fill) : zeropage(p);
  return ret == -EEXIST || ret == -ENOENT ? 0 : ret;
}

}  // namespace smm_model
