// SPDX-License-Identifier: GPL-2.0
#include "backend.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace shadowmm {

SysError::SysError(std::string_view what, int err)
    : Error(std::string(what) + ": " + std::strerror(err)), err_(err) {}

namespace {

// Indexed by enum shadowmm_mode; the core's smm_mode_name() agrees (tested).
constexpr std::string_view kModeNames[] = {"classic", "spf", "vmalock", "mmseq"};
static_assert(std::size(kModeNames) == SHADOWMM_NR_MODES);

// Indexed by enum shadowmm_geometry; the core's smm_geometry_name() agrees.
constexpr std::string_view kGeometryNames[] = {"host", "4k", "64k"};
static_assert(std::size(kGeometryNames) == SHADOWMM_NR_GEOMS);

// Indexed by enum shadowmm_swap_policy; smm_swap_policy_name() agrees.
constexpr std::string_view kSwapPolicyNames[] = {"fallback", "drop-retry", "vma-retry"};
static_assert(std::size(kSwapPolicyNames) == SHADOWMM_NR_SWAP_POLICIES);

// Indexed by enum shadowmm_anon_policy; smm_anon_policy_name() agrees.
constexpr std::string_view kAnonPolicyNames[] = {"fallback", "trylock"};
static_assert(std::size(kAnonPolicyNames) == SHADOWMM_NR_ANON_POLICIES);
// Indexed by enum shadowmm_tlb_policy; smm_tlb_policy_name() agrees.
constexpr std::string_view kTlbPolicyNames[] = {"none", "rcu", "ipi"};
static_assert(std::size(kTlbPolicyNames) == SHADOWMM_NR_TLB_POLICIES);
// Indexed by enum shadowmm_model_choice.
constexpr std::string_view kModelChoiceNames[] = {"unmap_write", "tlb_waiters_stay"};
static_assert(std::size(kModelChoiceNames) == SHADOWMM_NR_MODEL_CHOICES);

constexpr std::string_view kCounterNames[] = {
#define SHADOWMM_HARNESS_COUNTER_NAME(name, str) str,
    SHADOWMM_COUNTERS(SHADOWMM_HARNESS_COUNTER_NAME)
#undef SHADOWMM_HARNESS_COUNTER_NAME
};
static_assert(std::size(kCounterNames) == SHADOWMM_NR_COUNTERS);

// A name table's entry @i, or "?"; and the index of @name in it.
template <size_t N>
std::string_view NameAt(const std::string_view (&names)[N], unsigned i) {
  return i < N ? names[i] : "?";
}

template <size_t N>
std::optional<unsigned> IndexOf(const std::string_view (&names)[N], std::string_view name) {
  for (unsigned i = 0; i < N; i++)
    if (name == names[i]) return i;
  return std::nullopt;
}

}  // namespace

std::string_view ModeName(Mode mode) {
  if (mode == Mode::kStock) return "stock";
  return kModeNames[static_cast<unsigned>(mode)];
}

std::optional<Mode> ParseMode(std::string_view name) {
  if (std::optional<unsigned> i = IndexOf(kModeNames, name)) return static_cast<Mode>(*i);
  if (name == "stock") return Mode::kStock;
  return std::nullopt;
}

std::string_view GeometryName(unsigned geometry) { return NameAt(kGeometryNames, geometry); }

std::optional<unsigned> ParseGeometry(std::string_view name) {
  return IndexOf(kGeometryNames, name);
}

std::string_view SwapPolicyName(unsigned policy) { return NameAt(kSwapPolicyNames, policy); }

std::optional<unsigned> ParseSwapPolicy(std::string_view name) {
  return IndexOf(kSwapPolicyNames, name);
}

std::string_view AnonPolicyName(unsigned policy) { return NameAt(kAnonPolicyNames, policy); }

std::optional<unsigned> ParseAnonPolicy(std::string_view name) {
  return IndexOf(kAnonPolicyNames, name);
}

std::string_view TlbPolicyName(unsigned policy) { return NameAt(kTlbPolicyNames, policy); }

std::optional<unsigned> ParseTlbPolicy(std::string_view name) {
  return IndexOf(kTlbPolicyNames, name);
}

std::string ModelName(uint64_t mask) {
  std::string names;
  for (unsigned c = 0; c < SHADOWMM_NR_MODEL_CHOICES; c++)
    if (mask & (uint64_t{1} << c)) {
      if (!names.empty()) names += ',';
      names += kModelChoiceNames[c];
    }
  return names;
}

std::optional<uint64_t> ParseModel(std::string_view names) {
  uint64_t mask = 0;
  if (names == "none") return mask;
  // Every comma separates two names: "a,", ",a" and "" name nothing.
  for (;;) {
    const size_t comma = names.find(',');
    const std::optional<unsigned> c = IndexOf(kModelChoiceNames, names.substr(0, comma));
    if (!c) return std::nullopt;
    mask |= uint64_t{1} << *c;
    if (comma == std::string_view::npos) return mask;
    names = names.substr(comma + 1);
  }
}

std::string_view LayoutName(Layout layout) {
  return layout == Layout::kShared ? "shared" : "per-thread";
}

std::optional<Layout> ParseLayout(std::string_view name) {
  if (name == "shared") return Layout::kShared;
  if (name == "per-thread") return Layout::kPerThread;
  return std::nullopt;
}

std::string_view SubmitName(Submit submit) {
  switch (submit) {
    case Submit::kIoctl:
      return "ioctl";
    case Submit::kWrite:
      return "write";
    case Submit::kUring:
      return "uring";
  }
  return "?";
}

std::optional<Submit> ParseSubmit(std::string_view name) {
  for (Submit s : {Submit::kIoctl, Submit::kWrite, Submit::kUring})
    if (name == SubmitName(s)) return s;
  return std::nullopt;
}

std::string_view CounterName(unsigned i) {
  return i < std::size(kCounterNames) ? kCounterNames[i] : std::string_view();
}

std::string Hex(uint64_t x) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(x));
  return buf;
}

std::unique_ptr<Backend> Backend::Fork() {
  throw Error(std::string(Name()) + " backend cannot fork its space");
}

std::unique_ptr<Userfaults> Backend::OpenUserfaults() {
  throw Error(std::string(Name()) + " backend has no userfaults");
}

std::unique_ptr<Backend> MakeBackend(const BackendConfig& config) {
  if (config.name == "stock") return MakeStockBackend(config);
  if (config.name == "module") return MakeModuleBackend(config);
  if (config.name == "inproc") return MakeInprocBackend(config);
  throw Error("unknown backend '" + config.name + "' (stock|module|inproc)");
}

}  // namespace shadowmm
