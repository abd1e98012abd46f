// SPDX-License-Identifier: GPL-2.0
//
// inproc: the core linked into this process, one smm_mm shared by every
// thread, commands handed to smm_exec() as the module's ioctl would.
#include <mutex>
#include <string>

#include "arena.h"
#include "backend.h"
#include "shadow_thread.h"

extern "C" {
#include "smm_api.h"
}

namespace shadowmm {

// The core's module-wide state (its caches) lives as long as the process,
// as the module's lives as long as it is loaded.
void InitInprocCore() {
  static std::once_flag once;
  static int ret;
  std::call_once(once, [] { ret = smm_core_init(); });
  if (ret) throw SysError("smm_core_init", -ret);
}

namespace {

class InprocThread : public ShadowThread {
 public:
  InprocThread(smm_mm* mm, AddressArenas& arenas, unsigned index, uint64_t touch_chunk_pages)
      : ShadowThread(arenas, index, touch_chunk_pages), mm_(mm) {}

 protected:
  bool Exec(shadowmm_cmd& cmd, bool) override {
    int ret = smm_exec(mm_, &cmd);
    if (ret) throw SysError(std::string("inproc ") + std::string(OpName(cmd.op)), -ret);
    return true;
  }

 private:
  smm_mm* mm_;
};

// smm_uffd_open(): the channel, and the commands a resolver sends.
class InprocUserfaults : public Userfaults {
 public:
  InprocUserfaults(smm_mm* mm, uint64_t page_size) : mm_(mm), page_size_(page_size) {
    if (int ret = smm_uffd_open(mm, &ctx_)) throw SysError("smm_uffd_open", -ret);
  }
  ~InprocUserfaults() override { smm_uffd_release(ctx_); }
  InprocUserfaults(const InprocUserfaults&) = delete;
  InprocUserfaults& operator=(const InprocUserfaults&) = delete;

  void Register(uint64_t addr, uint64_t len) override {
    shadowmm_cmd cmd = UffdCmd(SHADOWMM_OP_UFFD_REGISTER, addr, len, SHADOWMM_UFFD_MISSING);
    if (int ret = smm_exec(mm_, &cmd)) throw SysError("inproc UFFD_REGISTER", -ret);
  }

  std::vector<UserfaultEvent> Read(size_t max, int timeout_ms) override {
    std::vector<shadowmm_uffd_msg> msgs(max);
    long got = smm_uffd_read(ctx_, msgs.data(), max, timeout_ms);
    if (got == -EAGAIN) return {};
    if (got < 0) throw SysError("smm_uffd_read", static_cast<int>(-got));
    std::vector<UserfaultEvent> events;
    for (long i = 0; i < got; i++)
      events.push_back({msgs[i].addr, (msgs[i].flags & SHADOWMM_UFFD_PAGEFAULT_WRITE) != 0});
    return events;
  }

  bool Copy(uint64_t addr, const void* src) override {
    shadowmm_cmd cmd = UffdCmd(SHADOWMM_OP_UFFD_COPY, addr, page_size_);
    int ret = smm_uffd_copy(mm_, &cmd, src);
    if (ret == -EEXIST) {
      smm_uffd_wake_range(mm_, addr, page_size_);
      return false;
    }
    if (ret) throw SysError("inproc UFFD_COPY", -ret);
    return true;
  }

 private:
  smm_mm* mm_;
  uint64_t page_size_;
  smm_uffd* ctx_ = nullptr;
};

struct MmDeleter {
  void operator()(smm_mm* mm) const { smm_mm_destroy(mm); }
};
using MmPtr = std::unique_ptr<smm_mm, MmDeleter>;

MmPtr CreateSpace(const BackendConfig& config) {
  if (config.submit != Submit::kIoctl) throw Error("--submit applies to --backend=module only");
  if (config.mode == Mode::kStock)
    throw Error(
        "inproc backend: mode 'stock' is the stock backend's; use classic|spf|vmalock|mmseq");
  InitInprocCore();
  smm_limits limits{};
  limits.max_pages = config.max_pages;
  smm_mm* mm = nullptr;
  int ret = smm_mm_create(&limits, static_cast<unsigned>(config.mode),
                          config.geometry.value_or(SHADOWMM_GEOM_HOST), &mm);
  if (ret) throw SysError("smm_mm_create", -ret);
  MmPtr owned(mm);
  shadowmm_info info{};
  smm_mm_info(mm, &info);
  if (std::optional<shadowmm_memory> mem = ConfiguredMemory(info, config)) {
    if ((ret = smm_set_memory(mm, &*mem))) throw SysError("smm_set_memory", -ret);
  }
  if (config.swap_policy) {
    shadowmm_cmd cmd = SwapPolicyCmd(*config.swap_policy);
    if ((ret = smm_exec(mm, &cmd))) throw SysError("smm_exec SET_SWAP_POLICY", -ret);
  }
  if (config.anon_policy) {
    shadowmm_cmd cmd = AnonPolicyCmd(*config.anon_policy);
    if ((ret = smm_exec(mm, &cmd))) throw SysError("smm_exec SET_ANON_POLICY", -ret);
  }
  if (config.tlb_policy) {
    shadowmm_cmd cmd = TlbPolicyCmd(*config.tlb_policy);
    if ((ret = smm_exec(mm, &cmd))) throw SysError("smm_exec SET_TLB_POLICY", -ret);
  }
  if (config.model) {
    shadowmm_cmd cmd = ModelCmd(*config.model);
    if ((ret = smm_exec(mm, &cmd))) throw SysError("smm_exec SET_MODEL", -ret);
  }
  return owned;
}

shadowmm_info SpaceInfo(smm_mm* mm) {
  shadowmm_info info{};
  smm_mm_info(mm, &info);
  return info;
}

class InprocBackend : public Backend {
 public:
  explicit InprocBackend(const BackendConfig& config)
      : mm_(CreateSpace(config)),
        info_(SpaceInfo(mm_.get())),
        arenas_(config.threads + 1, info_.page_size, config.layout),
        touch_chunk_pages_(config.touch_chunk_pages) {
    for (shadowmm_cmd& cmd : NeighbourCmds(arenas_)) {
      if (int ret = smm_exec(mm_.get(), &cmd))
        throw SysError("smm_exec " + std::string(OpName(cmd.op)), -ret);
    }
  }

  // A forked child: its neighbour pages are the parent's, copied by FORK.
  InprocBackend(MmPtr child, const InprocBackend& parent)
      : mm_(std::move(child)),
        info_(SpaceInfo(mm_.get())),
        arenas_(parent.arenas_),
        touch_chunk_pages_(parent.touch_chunk_pages_) {}

  std::unique_ptr<Backend> Fork() override {
    smm_mm* child = nullptr;
    if (int ret = smm_fork(mm_.get(), &child)) throw SysError("smm_fork", -ret);
    return std::make_unique<InprocBackend>(MmPtr(child), *this);
  }

  std::unique_ptr<Userfaults> OpenUserfaults() override {
    return std::make_unique<InprocUserfaults>(mm_.get(), info_.page_size);
  }

  std::string_view Name() const override { return "inproc"; }
  uint64_t PageSize() const override { return info_.page_size; }
  unsigned Geometry() const override { return static_cast<unsigned>(info_.geometry); }

  std::unique_ptr<BackendThread> Attach(unsigned index) override {
    return std::make_unique<InprocThread>(mm_.get(), arenas_, index, touch_chunk_pages_);
  }

  void SetMode(Mode mode) override {
    if (mode == Mode::kStock) throw Error("inproc backend: no mode 'stock'");
    int ret = smm_set_mode(mm_.get(), static_cast<unsigned>(mode));
    if (ret) throw SysError("smm_set_mode", -ret);
  }

  Mode GetMode() override { return static_cast<Mode>(smm_get_mode(mm_.get())); }

  shadowmm_stats Stats() override {
    shadowmm_stats st{};
    smm_mm_stats(mm_.get(), &st);
    return st;
  }

  shadowmm_memory Memory() override { return MemoryOf(SpaceInfo(mm_.get())); }

  std::optional<unsigned> SwapPolicy() override {
    return static_cast<unsigned>(SpaceInfo(mm_.get()).swap_policy);
  }

  std::optional<unsigned> AnonPolicy() override {
    return static_cast<unsigned>(SpaceInfo(mm_.get()).anon_policy);
  }

  std::optional<unsigned> TlbPolicy() override {
    return static_cast<unsigned>(SpaceInfo(mm_.get()).tlb_policy);
  }

  std::optional<uint64_t> Model() override { return SpaceInfo(mm_.get()).model; }

  void SetMemory(const shadowmm_memory& memory) override {
    if (int ret = smm_set_memory(mm_.get(), &memory)) throw SysError("smm_set_memory", -ret);
  }

  void SetSwapPolicy(unsigned policy) override {
    shadowmm_cmd cmd = SwapPolicyCmd(policy);
    if (int ret = smm_exec(mm_.get(), &cmd)) throw SysError("smm_exec SET_SWAP_POLICY", -ret);
  }

  std::optional<uint64_t> Reclaim(uint64_t addr, uint64_t len, uint64_t pages) override {
    shadowmm_cmd cmd = ReclaimCmd(addr, len, pages);
    if (int ret = smm_exec(mm_.get(), &cmd)) throw SysError("smm_exec RECLAIM", -ret);
    return cmd.out_value;
  }

 private:
  MmPtr mm_;
  shadowmm_info info_;
  AddressArenas arenas_;
  uint64_t touch_chunk_pages_;
};

}  // namespace

std::unique_ptr<Backend> MakeInprocBackend(const BackendConfig& config) {
  return std::make_unique<InprocBackend>(config);
}

InprocBugs::InprocBugs(unsigned long mask) : before_(smm_get_bugs()) {
  if (int ret = smm_set_bugs(mask)) throw SysError("smm_set_bugs", -ret);
}

InprocBugs::~InprocBugs() { smm_set_bugs(before_); }

}  // namespace shadowmm
