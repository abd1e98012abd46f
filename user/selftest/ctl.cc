// SPDX-License-Identifier: GPL-2.0
#include "ctl.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "tap.h"

namespace shadowmm::selftest {

uint64_t g_page_size;

uint64_t TablesCovering(const shadowmm_info& info, uint64_t start, uint64_t len) {
  uint64_t tables = 1;
  // The span of one table at each level, from the PTE tables' upwards.
  uint64_t shift = info.page_shift;
  for (uint64_t level = info.pt_levels - 1; level > 0; level--) {
    shift += info.pt_bits[level];
    tables += ((start + len - 1) >> shift) - (start >> shift) + 1;
  }
  return tables;
}
namespace {

std::string debugfs_dir = "/sys/kernel/debug/shadowmm";

}  // namespace

void SetDebugfsDir(const std::string& dir) { debugfs_dir = dir; }
const std::string& DebugfsDir() { return debugfs_dir; }
std::string DebugfsFile(const std::string& name) { return debugfs_dir + "/" + name; }
const char* ModuleName() { return "shadowmm"; }
std::string ParamFile(const std::string& name) {
  return std::string("/sys/module/") + ModuleName() + "/parameters/" + name;
}

int ReadFile(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  out->clear();
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      int err = errno;
      close(fd);
      return err;
    }
    if (n == 0) break;
    out->append(buf, n);
  }
  close(fd);
  return 0;
}

int WriteFile(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, data.data(), data.size());
  int err = n < 0 ? errno : (static_cast<size_t>(n) == data.size() ? 0 : EIO);
  close(fd);
  return err;
}

std::string ReadLine(const std::string& path) {
  std::string s;
  int err = ReadFile(path, &s);
  if (err) SMM_FAIL(true, "cannot read " + path + ": " + ErrName(err));
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

uint64_t GlobalStats::operator[](const std::string& name) const {
  auto it = lines.find(name);
  if (it == lines.end()) SMM_FAIL(true, "no '" + name + "' line in stats");
  char* end;
  uint64_t v = std::strtoull(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end) SMM_FAIL(true, "stats: '" + name + " " + it->second + "'");
  return v;
}

GlobalStats ReadGlobalStats() {
  GlobalStats st;
  std::string text;
  int err = ReadFile(DebugfsFile("stats"), &text);
  if (err) SMM_FAIL(true, "cannot read stats: " + ErrName(err));
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) SMM_FAIL(true, "stats: last line has no newline");
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || line.find(' ', sp + 1) != std::string::npos)
      SMM_FAIL(true, "stats: malformed line '" + line + "'");
    std::string name = line.substr(0, sp);
    if (st.lines.count(name)) SMM_FAIL(true, "stats: '" + name + "' twice");
    st.lines[name] = line.substr(sp + 1);
    st.order.push_back(name);
  }
  return st;
}

long ModuleRefcnt() {
  std::string s;
  if (ReadFile(std::string("/sys/module/") + ModuleName() + "/refcnt", &s)) return -1;
  return std::strtol(s.c_str(), nullptr, 10);
}

shadowmm_cmd Cmd(uint64_t op, uint64_t addr, uint64_t len) {
  shadowmm_cmd c{};
  c.op = op;
  c.addr = addr;
  c.len = len;
  return c;
}

shadowmm_cmd MapCmd(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags) {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_MAP, addr, len);
  c.prot = prot;
  c.flags = flags;
  return c;
}

shadowmm_cmd ProtectCmd(uint64_t addr, uint64_t len, uint64_t prot) {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_PROTECT, addr, len);
  c.prot = prot;
  return c;
}

shadowmm_cmd FaultCmd(uint64_t addr, bool write, uint64_t value) {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_FAULT, addr);
  c.flags = write ? SHADOWMM_ACCESS_WRITE : 0;
  c.value = value;
  return c;
}

shadowmm_cmd TouchCmd(uint64_t addr, uint64_t len, uint64_t stride, bool write, uint64_t value) {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_TOUCH, addr, len);
  c.stride = stride;
  c.flags = write ? SHADOWMM_ACCESS_WRITE : 0;
  c.value = value;
  return c;
}

int Space::Open() {
  int fd = open(DebugfsFile("ctl").c_str(), O_RDWR | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

Space::Space() {
  fd_ = Open();
  if (fd_ < 0) {
    int err = -fd_;
    fd_ = -1;
    SMM_FAIL(true, "open " + DebugfsFile("ctl") + ": " + ErrName(err));
  }
}

Space::~Space() { Close(); }

void Space::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

int Space::Ioctl(shadowmm_cmd& cmd) const {
  return ioctl(fd_, SHADOWMM_IOC(cmd.op), &cmd) < 0 ? errno : 0;
}

int Space::Map(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags,
               uint64_t* out_addr) const {
  shadowmm_cmd c = MapCmd(addr, len, prot, flags);
  int err = Ioctl(c);
  if (out_addr) *out_addr = c.out_addr;
  return err;
}

int Space::MapFixed(uint64_t addr, uint64_t len, uint64_t prot) const {
  return Map(addr, len, prot, SHADOWMM_MAP_FIXED);
}

int Space::Unmap(uint64_t addr, uint64_t len) const {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_UNMAP, addr, len);
  return Ioctl(c);
}

int Space::Protect(uint64_t addr, uint64_t len, uint64_t prot) const {
  shadowmm_cmd c = ProtectCmd(addr, len, prot);
  return Ioctl(c);
}

int Space::Zap(uint64_t addr, uint64_t len) const {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_ZAP, addr, len);
  return Ioctl(c);
}

int Space::Fault(uint64_t addr, bool write, uint64_t in_value, uint64_t* value,
                 uint64_t* faults) const {
  shadowmm_cmd c = FaultCmd(addr, write, in_value);
  int err = Ioctl(c);
  if (value) *value = c.out_value;
  if (faults) *faults = c.out_faults;
  return err;
}

int Space::Touch(uint64_t addr, uint64_t len, uint64_t stride, bool write, uint64_t value,
                 uint64_t* faults) const {
  shadowmm_cmd c = TouchCmd(addr, len, stride, write, value);
  int err = Ioctl(c);
  if (faults) *faults = c.out_faults;
  return err;
}

int Space::SetMode(uint64_t mode) const {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_MODE);
  c.value = mode;
  return Ioctl(c);
}

int Space::SetGeometry(uint64_t geometry) const {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_GEOMETRY);
  c.value = geometry;
  return Ioctl(c);
}

int Space::SetMemory(const shadowmm_memory& mem) const {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_MEMORY);
  c.ptr = reinterpret_cast<uintptr_t>(&mem);
  c.len = sizeof(mem);
  return Ioctl(c);
}

int Space::SetSwapPolicy(uint64_t policy) const {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_SWAP_POLICY);
  c.value = policy;
  return Ioctl(c);
}

int Space::SetAnonPolicy(uint64_t policy) const {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_ANON_POLICY);
  c.value = policy;
  return Ioctl(c);
}

int Space::Fork(int* child_fd) const {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_FORK);
  int err = Ioctl(c);
  *child_fd = err ? -1 : static_cast<int>(c.out_value);
  return err;
}

int Space::UffdOpen(int* uffd_fd) const {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_UFFD_OPEN);
  int err = Ioctl(c);
  *uffd_fd = err ? -1 : static_cast<int>(c.out_value);
  return err;
}

int Space::Uffd(uint64_t op, uint64_t addr, uint64_t len, uint64_t flags, uint64_t value,
                const void* src, uint64_t* out_len) const {
  shadowmm_cmd c = Cmd(op, addr, len);
  c.flags = flags;
  c.value = value;
  c.ptr = reinterpret_cast<uintptr_t>(src);
  int err = Ioctl(c);
  if (out_len) *out_len = c.out_len;
  return err;
}

shadowmm_info Space::Info() const {
  shadowmm_info info{};
  shadowmm_cmd c = Cmd(SHADOWMM_OP_GET_INFO);
  c.ptr = reinterpret_cast<uintptr_t>(&info);
  c.len = sizeof(info);
  int err = Ioctl(c);
  if (err) SMM_FAIL(true, "GET_INFO: " + ErrName(err));
  if (c.out_len != sizeof(info)) SMM_FAIL(true, "GET_INFO: out_len " + Show(c.out_len));
  return info;
}

shadowmm_stats Space::Stats() const {
  shadowmm_stats st{};
  shadowmm_cmd c = Cmd(SHADOWMM_OP_GET_STATS);
  c.ptr = reinterpret_cast<uintptr_t>(&st);
  c.len = sizeof(st);
  int err = Ioctl(c);
  if (err) SMM_FAIL(true, "GET_STATS: " + ErrName(err));
  if (c.out_len != sizeof(st)) SMM_FAIL(true, "GET_STATS: out_len " + Show(c.out_len));
  return st;
}

ssize_t Space::SubmitRaw(const void* buf, size_t len) const {
  ssize_t n = write(fd_, buf, len);
  return n < 0 ? -errno : n;
}

ssize_t Space::Submit(const std::vector<shadowmm_cmd>& records) const {
  return SubmitRaw(records.data(), records.size() * sizeof(shadowmm_cmd));
}

SettingGuard::SettingGuard(std::string path, const std::string& value) : path_(std::move(path)) {
  std::string old;
  if (ReadFile(path_, &old) == 0) {
    while (!old.empty() && old.back() == '\n') old.pop_back();
    old_ = old;
  }
  int err = WriteFile(path_, value);
  if (err) SMM_FAIL(true, "cannot set " + path_ + " to '" + value + "': " + ErrName(err));
}

SettingGuard::~SettingGuard() {
  if (old_ && WriteFile(path_, *old_) != 0)
    Tap::Diag("warning: could not restore " + path_ + " to '" + *old_ + "'");
}

}  // namespace shadowmm::selftest
