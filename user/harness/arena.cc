// SPDX-License-Identifier: GPL-2.0
#include "arena.h"

#include <iterator>
#include <string>

#include "backend.h"

namespace shadowmm {

unsigned AddressArenas::MaxArenas() {
  return static_cast<unsigned>((SHADOWMM_TASK_SIZE - kBase) / kArenaSize);
}

AddressArenas::AddressArenas(unsigned count, uint64_t page_size, Layout layout)
    : page_size_(page_size), layout_(layout) {
  if (count == 0 || count > MaxArenas())
    throw Error("cannot lay out " + std::to_string(count) + " address arenas (at most " +
                std::to_string(MaxArenas()) + ")");
  arenas_.reserve(count);
  for (unsigned i = 0; i < count; i++) {
    auto arena = std::make_unique<Arena>();
    arena->free.emplace(Start(i), Start(i) + kArenaSize);
    arenas_.push_back(std::move(arena));
  }
}

AddressArenas::AddressArenas(const AddressArenas& other)
    : page_size_(other.page_size_), layout_(other.layout_) {
  arenas_.reserve(other.arenas_.size());
  for (const std::unique_ptr<Arena>& from : other.arenas_) {
    auto arena = std::make_unique<Arena>();
    std::lock_guard guard(from->lock);
    arena->free = from->free;
    arenas_.push_back(std::move(arena));
  }
}

uint64_t AddressArenas::Alloc(unsigned index, uint64_t len) {
  len = RoundUp(len, page_size_);
  if (index >= arenas_.size() || len == 0)
    throw Error("bad arena allocation: arena " + std::to_string(index) + ", " +
                std::to_string(len) + " bytes");
  Arena& arena = *arenas_[index];
  std::lock_guard guard(arena.lock);
  for (auto it = arena.free.begin(); it != arena.free.end(); ++it) {
    if (it->second - it->first < len) continue;
    uint64_t addr = it->first;
    uint64_t end = it->second;
    arena.free.erase(it);
    if (addr + len < end) arena.free.emplace(addr + len, end);
    return addr;
  }
  throw Error("address arena " + std::to_string(index) + " is full (" +
              std::to_string(kArenaSize >> 20) + " MiB): " + std::to_string(len) +
              " more bytes do not fit");
}

void AddressArenas::Free(uint64_t addr, uint64_t len) {
  len = RoundUp(len, page_size_);
  uint64_t end = addr + len;
  if (addr < kBase || end <= addr ||
      (addr - kBase) / kArenaSize != (end - 1 - kBase) / kArenaSize ||
      (addr - kBase) / kArenaSize >= arenas_.size())
    throw Error("range is not inside one address arena");
  Arena& arena = *arenas_[(addr - kBase) / kArenaSize];
  std::lock_guard guard(arena.lock);
  auto next = arena.free.lower_bound(addr);
  if (next != arena.free.end() && next->first < end)
    throw Error("freeing a range that is already free");
  if (next != arena.free.begin()) {
    auto prev = std::prev(next);
    if (prev->second > addr) throw Error("freeing a range that is already free");
    if (prev->second == addr) {
      addr = prev->first;
      arena.free.erase(prev);
    }
  }
  if (next != arena.free.end() && next->first == end) {
    end = next->second;
    arena.free.erase(next);
  }
  arena.free.emplace(addr, end);
}

}  // namespace shadowmm
