// SPDX-License-Identifier: GPL-2.0
//
// The module as the selftest sees it: the raw uapi (one struct
// shadowmm_cmd per ioctl or per write() record) on an open ctl file, the
// other debugfs files, and the module's parameters in sysfs.  Calls return
// 0 or an errno value, so tests can compare errors directly.
#ifndef SHADOWMM_SELFTEST_CTL_H_
#define SHADOWMM_SELFTEST_CTL_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shadowmm.h"

namespace shadowmm::selftest {

// The page size of a new space (GET_INFO at start-up: the module's default
// geometry), what every test's layout is in.  0 until then.
extern uint64_t g_page_size;
inline const uint64_t& kPage = g_page_size;
inline constexpr uint64_t kRW = SHADOWMM_PROT_READ | SHADOWMM_PROT_WRITE;
inline constexpr uint64_t kRO = SHADOWMM_PROT_READ;
inline constexpr uint64_t kNone = SHADOWMM_PROT_NONE;

// Page tables that map [start, start + len) in a space of geometry @info
// (PGD included): a table at each level below the PGD for every distinct
// span of its parent's entries.
uint64_t TablesCovering(const shadowmm_info& info, uint64_t start, uint64_t len);

// <debugfs>/shadowmm, and the module's sysfs directory.
void SetDebugfsDir(const std::string& dir);
const std::string& DebugfsDir();
std::string DebugfsFile(const std::string& name);
std::string ParamFile(const std::string& name);
const char* ModuleName();

// Whole-file read and write: 0 or errno.
int ReadFile(const std::string& path, std::string* out);
int WriteFile(const std::string& path, const std::string& data);
// The file's content without its trailing newline; ASSERTs it can be read.
std::string ReadLine(const std::string& path);

// The "name value" lines of <debugfs>/shadowmm/stats.
struct GlobalStats {
  std::map<std::string, std::string> lines;
  std::vector<std::string> order;
  uint64_t operator[](const std::string& name) const;  // ASSERTs it exists
};
GlobalStats ReadGlobalStats();

// The module's reference count (/sys/module/shadowmm/refcnt), or -1.
long ModuleRefcnt();

shadowmm_cmd Cmd(uint64_t op, uint64_t addr = 0, uint64_t len = 0);
shadowmm_cmd MapCmd(uint64_t addr, uint64_t len, uint64_t prot,
                    uint64_t flags = SHADOWMM_MAP_FIXED);
shadowmm_cmd ProtectCmd(uint64_t addr, uint64_t len, uint64_t prot);
shadowmm_cmd FaultCmd(uint64_t addr, bool write, uint64_t value = 0);
shadowmm_cmd TouchCmd(uint64_t addr, uint64_t len, uint64_t stride, bool write, uint64_t value = 0);

// One open() of ctl: one shadow address space.
class Space {
 public:
  Space();  // ASSERTs that ctl opens
  ~Space();
  Space(const Space&) = delete;
  Space& operator=(const Space&) = delete;
  Space(Space&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  // A space's descriptor from elsewhere (FORK's child), owned from here.
  explicit Space(int fd) : fd_(fd) {}

  // open() of ctl: a descriptor, or -errno.
  static int Open();

  int fd() const { return fd_; }
  void Close();

  // ioctl(SHADOWMM_IOC(cmd.op), &cmd): 0 or errno; out_* written back.
  int Ioctl(shadowmm_cmd& cmd) const;
  int Map(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags,
          uint64_t* out_addr = nullptr) const;
  int MapFixed(uint64_t addr, uint64_t len, uint64_t prot = kRW) const;
  int Unmap(uint64_t addr, uint64_t len) const;
  int Protect(uint64_t addr, uint64_t len, uint64_t prot) const;
  int Zap(uint64_t addr, uint64_t len) const;
  // FAULT: out_value into *value (the value read, or written).
  int Fault(uint64_t addr, bool write, uint64_t in_value = 0, uint64_t* value = nullptr,
            uint64_t* faults = nullptr) const;
  int Load(uint64_t addr, uint64_t* value) const { return Fault(addr, false, 0, value); }
  int Store(uint64_t addr, uint64_t value) const { return Fault(addr, true, value); }
  int Touch(uint64_t addr, uint64_t len, uint64_t stride, bool write, uint64_t value = 0,
            uint64_t* faults = nullptr) const;
  int SetMode(uint64_t mode) const;
  int SetGeometry(uint64_t geometry) const;
  int SetMemory(const shadowmm_memory& mem) const;
  int SetSwapPolicy(uint64_t policy) const;
  int SetAnonPolicy(uint64_t policy) const;
  // FORK: the child's descriptor into *child_fd.
  int Fork(int* child_fd) const;
  // UFFD_OPEN: the channel's descriptor into *uffd_fd.
  int UffdOpen(int* uffd_fd) const;
  // A userfault command (REGISTER ... WAKE); out_len into *out_len.
  int Uffd(uint64_t op, uint64_t addr, uint64_t len, uint64_t flags = 0, uint64_t value = 0,
           const void* src = nullptr, uint64_t* out_len = nullptr) const;
  shadowmm_stats Stats() const;  // ASSERTs GET_STATS works
  shadowmm_info Info() const;    // ASSERTs GET_INFO works

  // write() of records: bytes consumed, or -errno.
  ssize_t Submit(const std::vector<shadowmm_cmd>& records) const;
  ssize_t SubmitRaw(const void* buf, size_t len) const;

 private:
  int fd_ = -1;
};

inline uint64_t Counter(const shadowmm_stats& st, shadowmm_counter ev) { return st.counter[ev]; }

// Sets a module parameter or debugfs file for the life of the guard and
// puts the old value back, so a test leaves the module as it found it.
class SettingGuard {
 public:
  SettingGuard(std::string path, const std::string& value);  // ASSERTs the write
  ~SettingGuard();
  SettingGuard(const SettingGuard&) = delete;
  SettingGuard& operator=(const SettingGuard&) = delete;

 private:
  std::string path_;
  std::optional<std::string> old_;
};

}  // namespace shadowmm::selftest

#endif  // SHADOWMM_SELFTEST_CTL_H_
