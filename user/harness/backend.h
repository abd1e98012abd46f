// SPDX-License-Identifier: GPL-2.0
//
// The one interface every workload is written against.  A Backend is one
// address space (the running process's own, a shadow space on
// <debugfs>/shadowmm/ctl, or a shadow space of the core linked in); each
// thread that drives it attaches once and gets a BackendThread, which holds
// what must not be shared between threads (an io_uring, a batch of records,
// an address arena).
#ifndef SHADOWMM_HARNESS_BACKEND_H_
#define SHADOWMM_HARNESS_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "shadowmm.h"
}

namespace shadowmm {

// Something the user asked for cannot be done, or an operation failed: the
// message is one line, fit for stderr as it is.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An operation returned -errno (or a syscall failed with errno).
class SysError : public Error {
 public:
  SysError(std::string_view what, int err);
  int err() const { return err_; }

 private:
  int err_;
};

enum class Prot : uint8_t { kNone, kRead, kReadWrite };
enum class Access : uint8_t { kRead, kWrite };
// How BackendThread::Copy() moves bytes: the C library's memcpy(), or
// ebizzy -l's own loop, one byte at a time.
enum class CopyLoop : uint8_t { kMemcpy, kByteLoop };
// How BackendThread::Search() looks: bsearch()'s bisection over ascending
// records, or ebizzy -z's linear_search(), record after record.
enum class SearchKind : uint8_t { kBinary, kLinear };

// The fault path a run measures: one of enum shadowmm_mode, or the running
// kernel's own (the stock backend, which has no other).
enum class Mode : uint8_t {
  kClassic = SHADOWMM_MODE_CLASSIC,
  kSpf = SHADOWMM_MODE_SPF,
  kVmalock = SHADOWMM_MODE_VMALOCK,
  kMmseq = SHADOWMM_MODE_MMSEQ,
  kStock,
};
inline constexpr Mode kShadowModes[] = {Mode::kClassic, Mode::kSpf, Mode::kVmalock, Mode::kMmseq};
std::string_view ModeName(Mode mode);
std::optional<Mode> ParseMode(std::string_view name);

// enum shadowmm_geometry by name: "host", "4k", "64k".
std::string_view GeometryName(unsigned geometry);
std::optional<unsigned> ParseGeometry(std::string_view name);

// enum shadowmm_swap_policy by name: "fallback", "drop-retry", "vma-retry".
std::string_view SwapPolicyName(unsigned policy);
std::optional<unsigned> ParseSwapPolicy(std::string_view name);

// enum shadowmm_anon_policy by name: "fallback", "trylock".
std::string_view AnonPolicyName(unsigned policy);
std::optional<unsigned> ParseAnonPolicy(std::string_view name);
// enum shadowmm_tlb_policy by name: "none", "rcu", "ipi".
std::string_view TlbPolicyName(unsigned policy);
std::optional<unsigned> ParseTlbPolicy(std::string_view name);
// SET_MODEL's mask by the names of its enum shadowmm_model_choice bits,
// comma-separated ("unmap_write,tlb_waiters_stay"; "" for 0).  Parsing
// takes the same, or "none"; nullopt for an unknown name.
std::string ModelName(uint64_t mask);
std::optional<uint64_t> ParseModel(std::string_view names);

// A run that cannot happen on this machine for a reason the user cannot fix
// by a flag (not root, no memory cgroup, the kernel refuses swap): one line
// saying why; shadowmm-bench reports it as a skip, not a failure.
class Skip : public Error {
 public:
  using Error::Error;
};

// One thread's handle.  Not thread-safe: only the thread that attached it
// uses it.  Addresses and lengths are multiples of PageSize() except where
// noted; lengths are rounded up to it.
//
// With batched submission (module backend, --submit=write|uring) an
// operation may only be queued: its failure is reported by a later call or
// by Flush().  A thread must Flush() before it tells another thread (by a
// barrier) that its operations are done.
class BackendThread {
 public:
  virtual ~BackendThread() = default;

  // Maps @len bytes of anonymous private memory and returns the address:
  // one chosen by the kernel (stock) or the next free range of this
  // thread's arena, mapped FIXED (shadow backends), so that every shadow
  // backend lays out a run the same way.
  virtual uint64_t Map(uint64_t len, Prot prot) = 0;
  // Unmaps [addr, addr + len); part of a mapping is fine, whichever thread
  // mapped it.
  virtual void Unmap(uint64_t addr, uint64_t len) = 0;
  virtual void Protect(uint64_t addr, uint64_t len, Prot prot) = 0;
  // MADV_DONTNEED: frees the pages, keeps the mapping.
  virtual void Zap(uint64_t addr, uint64_t len) = 0;
  // Accesses addr, addr + stride, ... below addr + len: a load, or a store
  // of the u64 @value.  @stride is a multiple of 8.
  virtual void Touch(uint64_t addr, uint64_t len, uint64_t stride, Access access,
                     uint64_t value) = 0;
  // One access of the u64 at @addr (8-byte aligned); may be batched.
  virtual void Fault(uint64_t addr, Access access, uint64_t value) = 0;
  // Loads the u64 at @addr, synchronously (flushes first).
  virtual uint64_t Load(uint64_t addr) = 0;
  // ebizzy's memcpy(): @len bytes (a multiple of 8, addresses 8-aligned,
  // ranges apart) from @src to @dst, loaded and stored so that each page
  // faults where a copy's first access to it would.  Stock runs @loop;
  // a shadow backend's core moves the same bytes either way (COPY).
  // May be batched.
  virtual void Copy(uint64_t dst, uint64_t src, uint64_t len, CopyLoop loop) = 0;
  // ebizzy's bsearch() or linear_search(): the record of [addr, addr +
  // len), @record bytes each (a multiple of 8), whose first u64 is @key.
  // Returns its index if the search ran now, nullopt if it was queued (a
  // batch reports a miss when it is written).  Throws Error if no record
  // matches (ebizzy exits: "Couldn't find key").
  virtual std::optional<uint64_t> Search(uint64_t addr, uint64_t len, uint64_t record, uint64_t key,
                                         SearchKind kind) = 0;
  // ebizzy's malloc() and free() of a record's copy.  Stock calls them.  A
  // shadow backend keeps one mapping per thread, reused and replaced by a
  // larger one when too small, as glibc's heap hands a freed chunk out
  // again; HeapRelease() unmaps it.  One allocation at a time.
  virtual uint64_t HeapAlloc(uint64_t len) = 0;
  virtual void HeapFree(uint64_t addr) = 0;
  virtual void HeapRelease() {}
  // Submits whatever is queued and waits for it.
  virtual void Flush() {}
  // This thread is about to block (a runner waiting for its workers, a
  // worker done): its CPU stops running the space, as a CPU that switches
  // to another task's mm does.  A shadow backend flushes, then the CPU
  // drops its TLB entries of the space and leaves its CPU mask (TLB_LEAVE),
  // so shootdowns stop interrupting it; its next access enters again.
  // Stock: the kernel does that itself.
  virtual void Deschedule() {}
  // Faults this thread has taken so far, where the backend can tell: the
  // kernel's per-thread count (stock), the out_faults of synchronous
  // commands (shadow).  nullopt when commands went out in batches.
  virtual std::optional<uint64_t> Faults() const = 0;
};

// A userfault event (missing mode): the page a fault waits on.
struct UserfaultEvent {
  uint64_t addr;  // page-aligned
  bool write;
};

// A space's userfault channel and what a resolver does with it:
// smm_uffd_open() in-process, UFFD_OPEN on the module, userfaultfd(2) on
// stock.  Resolver threads may share one; the channel closes with it.
class Userfaults {
 public:
  virtual ~Userfaults() = default;
  // Missing mode on [addr, addr + len), which is mapped.
  virtual void Register(uint64_t addr, uint64_t len) = 0;
  // Up to @max events, waiting up to @timeout_ms for the first; none if
  // none came.
  virtual std::vector<UserfaultEvent> Read(size_t max, int timeout_ms) = 0;
  // Installs one page of @src at @addr and wakes its faults; false if a
  // page was there already (EEXIST: another resolver's), its faults woken
  // all the same.
  virtual bool Copy(uint64_t addr, const void* src) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view Name() const = 0;
  // The unit of mapping and of faults: the host's page size for stock, the
  // space's (GET_INFO; its geometry) for shadow spaces.
  virtual uint64_t PageSize() const = 0;
  // enum shadowmm_geometry the space has (never HOST: what it resolved
  // to); stock: the running kernel's, as the host would resolve it.
  virtual unsigned Geometry() const = 0;
  // Handle for thread @index: 0 is the thread that sets a workload up and
  // tears it down, workers are 1..threads.  Called on that thread.
  virtual std::unique_ptr<BackendThread> Attach(unsigned index) = 0;
  virtual void SetMode(Mode mode) = 0;
  virtual Mode GetMode() = 0;
  // Counters of this space.  The stock backend fills only what the kernel
  // tells a process (FAULT: minor + major faults of the whole process).
  virtual shadowmm_stats Stats() = 0;
  // The resident budget and swap store (struct shadowmm_memory, pages of
  // PageSize()) and the swap policy the space has now.  Stock: the memory
  // cgroup's limit and the swap device SetMemory() set up (latency 0,
  // policy none: the kernel has its own).
  virtual shadowmm_memory Memory() = 0;
  virtual std::optional<unsigned> SwapPolicy() = 0;
  // The space's enum shadowmm_anon_policy (GET_INFO); stock: none.
  virtual std::optional<unsigned> AnonPolicy() { return std::nullopt; }
  // The space's enum shadowmm_tlb_policy (GET_INFO); stock: none.
  virtual std::optional<unsigned> TlbPolicy() { return std::nullopt; }
  // The space's SET_MODEL mask (GET_INFO); stock: none.
  virtual std::optional<uint64_t> Model() { return std::nullopt; }
  // SET_MEMORY.  Stock: max_pages becomes the limit of a memory cgroup this
  // process joins, swap_slots a swap device (zram, else a swap file), both
  // undone when the backend goes; throws Skip where the machine does not
  // allow it.  Watermarks and latency are the shadow spaces' only.
  virtual void SetMemory(const shadowmm_memory& memory) = 0;
  // SET_SWAP_POLICY (enum shadowmm_swap_policy).  Stock: none to set.
  virtual void SetSwapPolicy(unsigned policy) = 0;
  // RECLAIM of up to @pages pages (0: all it can) of [addr, addr + len)
  // (both 0: the whole space); returns the pages reclaimed.  Stock:
  // madvise(MADV_PAGEOUT), which says nothing of how many: nullopt.
  virtual std::optional<uint64_t> Reclaim(uint64_t addr, uint64_t len, uint64_t pages) = 0;
  // What SetMemory() built outside the space, for the run's header
  // (stock: the cgroup and swap device); "" if nothing.
  virtual std::string MemoryNote() const { return {}; }
  // ebizzy -M: the heap of HeapAlloc() never maps (stock:
  // mallopt(M_MMAP_MAX, 0), process-wide and for good, as in ebizzy: glibc
  // has no call that turns its dynamic mmap threshold back on).  A shadow
  // heap is one mapping either way.
  virtual void HeapNeverMmap() {}
  // FORK: a backend bound to a new child space, a copy of this one whose
  // private pages it shares copy-on-write (smm_fork(), SHADOWMM_IOC_FORK),
  // with this one's page size, mode, policies and memory, and a copy of
  // its address arenas (a child thread maps where this one's would not
  // clobber the parent's mappings).  Destroying it destroys the child.
  // Throws Error where the space cannot fork: the stock backend's space is
  // this process's own mm (IsThisProcess()), which a workload forks with
  // fork() itself.
  virtual std::unique_ptr<Backend> Fork();
  // True when the space is this process's own mm (stock): to fork it is to
  // fork() the process.
  virtual bool IsThisProcess() const { return false; }
  // The space's userfault channel (one per space).  Throws Skip where the
  // running kernel refuses userfaultfd (stock), Error otherwise.
  virtual std::unique_ptr<Userfaults> OpenUserfaults();
};

// Where a shadow backend's threads map (arena.h): "shared", "per-thread".
enum class Layout : uint8_t { kShared, kPerThread };
std::string_view LayoutName(Layout layout);
std::optional<Layout> ParseLayout(std::string_view name);

// How to submit commands to <debugfs>/shadowmm/ctl.
enum class Submit : uint8_t { kIoctl, kWrite, kUring };
std::string_view SubmitName(Submit submit);
std::optional<Submit> ParseSubmit(std::string_view name);

inline constexpr const char* kDefaultCtlPath = "/sys/kernel/debug/shadowmm/ctl";

struct BackendConfig {
  std::string name = "inproc";  // stock | module | inproc
  Mode mode = Mode::kClassic;
  unsigned threads = 1;  // workers; arenas for 0..threads are reserved
  Submit submit = Submit::kIoctl;
  unsigned batch = 64;  // records per write() / io_uring write
  // Split every Touch into commands of at most this many pages (0: one
  // command per Touch), to measure submission cost per fault.
  uint64_t touch_chunk_pages = 0;
  std::string ctl_path = kDefaultCtlPath;
  // Resident page budget (SET_MEMORY's max_pages; stock: a memory cgroup's
  // limit); 0: the space's default (none in-process, the module's
  // max_pages parameter, no cgroup on stock).
  uint64_t max_pages = 0;
  // The rest of SET_MEMORY, if given; otherwise the space's defaults
  // (module: its parameters).  Stock: swap_slots sizes the swap device.
  std::optional<uint64_t> swap_slots;
  std::optional<uint64_t> swap_latency_us;
  // SET_SWAP_POLICY right after the space is made; none: the default
  // (module: <debugfs>/shadowmm/swap_policy).
  std::optional<unsigned> swap_policy;
  // Where the threads map (arena.h): one arena beside a written page, as
  // in a process, or one arena each behind a PROT_NONE page.  Stock: the
  // kernel's own.
  Layout layout = Layout::kPerThread;
  // SET_ANON_POLICY right after the space is made; none: the default
  // (module: <debugfs>/shadowmm/anon_policy).  Stock: the kernel's own.
  std::optional<unsigned> anon_policy;
  // SET_TLB_POLICY right after the space is made, before any VMA; none:
  // the default (module: <debugfs>/shadowmm/tlb_policy).  Stock: the
  // machine's own TLBs.
  std::optional<unsigned> tlb_policy;
  // SET_MODEL right after the space is made; none: the default (0, each
  // choice as Linux makes it).  Stock: the kernel is Linux.
  std::optional<uint64_t> model;
  // SET_GEOMETRY right after the space is made; none: the space's default
  // (inproc: the host's; module: <debugfs>/shadowmm/geometry).  Stock: host
  // only.
  std::optional<unsigned> geometry;
};

// Throws Error with a one-line, actionable message (module not loaded,
// debugfs not mounted, mode not available on this backend...).
std::unique_ptr<Backend> MakeBackend(const BackendConfig& config);

// The backends, for tests and benchmarks that want one directly.
std::unique_ptr<Backend> MakeStockBackend(const BackendConfig& config);
std::unique_ptr<Backend> MakeModuleBackend(const BackendConfig& config);
std::unique_ptr<Backend> MakeInprocBackend(const BackendConfig& config);

// The in-process core's known-bug knobs (enum shadowmm_bug bits), global
// like the module's bugs file, for as long as the object lives; the mask
// before it comes back after.  Only for measuring what a fix costs.
class InprocBugs {
 public:
  explicit InprocBugs(unsigned long mask);
  ~InprocBugs();
  InprocBugs(const InprocBugs&) = delete;
  InprocBugs& operator=(const InprocBugs&) = delete;

 private:
  unsigned long before_;
};

// smm_core_init(), once per process, as a module's init runs once per load.
// Throws SysError.  The inproc backend calls it; so may tests that use the
// core's API directly.
void InitInprocCore();

// Names of SHADOWMM_COUNTERS, in order.
std::string_view CounterName(unsigned i);

inline uint64_t RoundUp(uint64_t x, uint64_t to) { return (x + to - 1) / to * to; }
std::string Hex(uint64_t x);

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_BACKEND_H_
