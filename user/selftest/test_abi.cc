// SPDX-License-Identifier: GPL-2.0
//
// The framing around the commands: ioctl numbers and the op field, out_*
// fields, GET_STATS buffer sizes, write() records and short writes, and
// bad user pointers everywhere.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;
constexpr size_t R = sizeof(shadowmm_cmd);

int RawIoctl(const Space& s, unsigned long nr, void* arg) {
  return ioctl(s.fd(), nr, arg) < 0 ? errno : 0;
}

// Anonymous memory of the host process, for buffers with holes in them.
class HostPages {
 public:
  explicit HostPages(size_t n) : len_(n * getpagesize()) {
    p_ = static_cast<char*>(
        mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p_ == MAP_FAILED) SMM_FAIL(true, "mmap failed");
  }
  ~HostPages() { munmap(p_, len_); }
  char* page(size_t i) const { return p_ + i * getpagesize(); }
  void Protect(size_t i, int prot) const {
    if (mprotect(page(i), getpagesize(), prot)) SMM_FAIL(true, "mprotect failed");
  }

 private:
  size_t len_;
  char* p_;
};

void IoctlNumbers() {
  Space s;
  shadowmm_cmd c = Cmd(SHADOWMM_OP_GET_STATS);
  const struct {
    unsigned long nr;
    const char* what;
  } cases[] = {
      {SHADOWMM_IOC(SHADOWMM_OP_NONE), "op 0"},
      {SHADOWMM_IOC(SHADOWMM_NR_OPS), "op past the last"},
      {SHADOWMM_IOC(200), "op 200"},
      {_IOWR(SHADOWMM_IOC_MAGIC, SHADOWMM_OP_MAP, __u32), "MAP with a 4-byte size"},
      {_IOWR(SHADOWMM_IOC_MAGIC, SHADOWMM_OP_MAP, char[sizeof(shadowmm_cmd) + 8]),
       "MAP with a larger size"},
      {_IOR(SHADOWMM_IOC_MAGIC, SHADOWMM_OP_MAP, shadowmm_cmd), "MAP as _IOR"},
      {_IOW(SHADOWMM_IOC_MAGIC, SHADOWMM_OP_MAP, shadowmm_cmd), "MAP as _IOW"},
      {_IO(SHADOWMM_IOC_MAGIC, SHADOWMM_OP_MAP), "MAP as _IO"},
      {_IOWR('T', SHADOWMM_OP_MAP, shadowmm_cmd), "another magic"},
      {0x12345678, "a made-up number"},
  };
  for (const auto& k : cases) {
    int err = RawIoctl(s, k.nr, &c);
    if (err != ENOTTY)
      SMM_FAIL(false, std::string(k.what) + ": " + ErrName(err) + ", expected ENOTTY");
  }
  EXPECT_EQ(s.Stats().vmas_live, 0u);
}

void IoctlOpField() {
  Space s;
  shadowmm_cmd c = MapCmd(kBase, P, kRW);
  c.op = SHADOWMM_OP_NONE;  // taken from the ioctl number
  ASSERT_EQ(RawIoctl(s, SHADOWMM_IOC_MAP, &c), 0);
  EXPECT_EQ(c.op, uint64_t{SHADOWMM_OP_MAP});
  c = MapCmd(kBase + P, P, kRW);
  c.op = SHADOWMM_OP_UNMAP;
  EXPECT_ERR(RawIoctl(s, SHADOWMM_IOC_MAP, &c), EINVAL);
  c.op = 99;
  EXPECT_ERR(RawIoctl(s, SHADOWMM_IOC_MAP, &c), EINVAL);
  c = Cmd(SHADOWMM_OP_UNMAP, kBase, P);
  c.op = SHADOWMM_OP_MAP;
  EXPECT_ERR(RawIoctl(s, SHADOWMM_IOC_UNMAP, &c), EINVAL);
  EXPECT_EQ(s.Stats().vmas_live, 1u);
}

void IoctlOutFields() {
  Space s;
  shadowmm_cmd c = Cmd(SHADOWMM_OP_UNMAP, kBase, P);
  c.out_addr = c.out_value = c.out_faults = c.out_len = 0xdeadbeef;
  ASSERT_OK(s.Ioctl(c));
  EXPECT_EQ(c.out_addr, 0u);
  EXPECT_EQ(c.out_value, 0u);
  EXPECT_EQ(c.out_faults, 0u);
  EXPECT_EQ(c.out_len, 0u);
  c = MapCmd(0, 2 * P, kRW, 0);
  c.out_value = c.out_len = 0xdeadbeef;
  ASSERT_OK(s.Ioctl(c));
  EXPECT_GE(c.out_addr, uint64_t{SHADOWMM_MMAP_MIN_ADDR});
  EXPECT_EQ(c.out_value, 0u);
  EXPECT_EQ(c.out_len, 0u);
  const uint64_t a = c.out_addr;
  c = FaultCmd(a + P, true, 0x77);
  c.out_addr = 0xdeadbeef;
  ASSERT_OK(s.Ioctl(c));
  EXPECT_EQ(c.out_value, 0x77u);
  EXPECT_EQ(c.out_faults, 1u);
  EXPECT_EQ(c.out_addr, 0u);
  // Inputs come back as they went in.
  EXPECT_EQ(c.addr, a + P);
  EXPECT_EQ(c.value, 0x77u);
}

void IoctlBadPointers() {
  Space s;
  HostPages host(2);
  EXPECT_ERR(RawIoctl(s, SHADOWMM_IOC_MAP, nullptr), EFAULT);
  EXPECT_ERR(RawIoctl(s, SHADOWMM_IOC_MAP, reinterpret_cast<void*>(8)), EFAULT);
  EXPECT_ERR(RawIoctl(s, SHADOWMM_IOC_MAP, reinterpret_cast<void*>(0xffffffff81000000)), EFAULT);
  // A command straddling into an unmapped page.
  host.Protect(1, PROT_NONE);
  auto* tail = reinterpret_cast<shadowmm_cmd*>(host.page(1) - R / 2);
  EXPECT_ERR(RawIoctl(s, SHADOWMM_IOC_UNMAP, tail), EFAULT);
  // A read-only command: it runs (the copy in works), the copy back
  // fails, and the caller hears EFAULT.
  auto* ro = reinterpret_cast<shadowmm_cmd*>(host.page(0));
  *ro = Cmd(SHADOWMM_OP_UNMAP, kBase, P);
  host.Protect(0, PROT_READ);
  EXPECT_ERR(RawIoctl(s, SHADOWMM_IOC_UNMAP, ro), EFAULT);
  EXPECT_EQ(s.Stats().vmas_live, 0u);
}

void GetStatsSizes() {
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_VMALOCK));
  ASSERT_OK(s.MapFixed(kBase, P));
  ASSERT_OK(s.Store(kBase, 1));
  constexpr size_t kSize = sizeof(shadowmm_stats);
  std::vector<unsigned char> buf(kSize + 64, 0xab);
  shadowmm_cmd c = Cmd(SHADOWMM_OP_GET_STATS);
  // len 0: only the size, whatever ptr is.
  c.ptr = 8;
  ASSERT_OK(s.Ioctl(c));
  EXPECT_EQ(c.out_len, kSize);
  // Shorter: an older caller's struct; only that much is written.
  c.ptr = reinterpret_cast<uintptr_t>(buf.data());
  c.len = 16;
  ASSERT_OK(s.Ioctl(c));
  EXPECT_EQ(c.out_len, kSize);
  uint64_t head[2];
  std::memcpy(head, buf.data(), sizeof(head));
  EXPECT_EQ(head[0], uint64_t{SHADOWMM_MODE_VMALOCK});  // mode
  EXPECT_EQ(head[1], 1u);                               // pages_live
  EXPECT_EQ(buf[16], 0xab);
  // Longer: a newer caller's; the module's size is written, no more.
  std::fill(buf.begin(), buf.end(), 0xab);
  c.len = buf.size();
  ASSERT_OK(s.Ioctl(c));
  EXPECT_EQ(c.out_len, kSize);
  EXPECT_EQ(buf[kSize], 0xab);
  shadowmm_stats st;
  std::memcpy(&st, buf.data(), kSize);
  EXPECT_EQ(st.nr_counters, uint64_t{SHADOWMM_NR_COUNTERS});
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT), 1u);
  // Bad buffers.
  HostPages host(1);
  c.len = kSize;
  c.ptr = 0;
  EXPECT_ERR(s.Ioctl(c), EFAULT);
  c.ptr = 0xffffffff81000000;
  EXPECT_ERR(s.Ioctl(c), EFAULT);
  host.Protect(0, PROT_READ);
  c.ptr = reinterpret_cast<uintptr_t>(host.page(0));
  EXPECT_ERR(s.Ioctl(c), EFAULT);
}

void WriteBatch() {
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_CLASSIC));
  std::vector<shadowmm_cmd> recs = {
      MapCmd(kBase, 8 * P, kRW),
      TouchCmd(kBase, 8 * P, P, true, 5),
      ProtectCmd(kBase + 2 * P, 2 * P, kRO),
      Cmd(SHADOWMM_OP_ZAP, kBase + 4 * P, 2 * P),
      Cmd(SHADOWMM_OP_UNMAP, kBase + 6 * P, 2 * P),
      Cmd(SHADOWMM_OP_SET_MODE),
      FaultCmd(kBase, true, 0x99),
  };
  recs[5].value = SHADOWMM_MODE_SPF;
  // out_* of records are ignored.
  for (auto& r : recs) r.out_addr = r.out_value = r.out_faults = r.out_len = ~0ULL;
  ASSERT_EQ(s.Submit(recs), static_cast<ssize_t>(recs.size() * R));
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.mode, uint64_t{SHADOWMM_MODE_SPF});
  EXPECT_EQ(st.vmas_live, 3u);
  EXPECT_EQ(st.pages_live, 4u);
  uint64_t v = 0;
  ASSERT_OK(s.Load(kBase, &v));
  EXPECT_EQ(v, 0x99u);
  ASSERT_OK(s.Load(kBase + 3 * P, &v));
  EXPECT_EQ(v, 5u);
  EXPECT_ERR(s.Store(kBase + 3 * P, 1), EFAULT);
  ASSERT_OK(s.Load(kBase + 4 * P, &v));
  EXPECT_EQ(v, 0u);
  EXPECT_ERR(s.Load(kBase + 6 * P, nullptr), EFAULT);
}

void WriteSizes() {
  Space s;
  std::vector<shadowmm_cmd> recs = {MapCmd(kBase, P, kRW), MapCmd(kBase + P, P, kRW)};
  const char* buf = reinterpret_cast<const char*>(recs.data());
  for (size_t len : {size_t{0}, size_t{1}, R - 1, R + 1, 2 * R - 8}) {
    ssize_t n = s.SubmitRaw(buf, len);
    if (n != -EINVAL)
      SMM_FAIL(false, "write of " + std::to_string(len) + " bytes returned " + Show(n) +
                          ", expected -EINVAL");
  }
  EXPECT_EQ(s.Stats().vmas_live, 0u);  // none of them ran a record
  EXPECT_EQ(s.SubmitRaw(buf, 2 * R), static_cast<ssize_t>(2 * R));
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_MAP), 2u);
  EXPECT_EQ(st.vmas_live, 1u);  // the second continues the first: merged
}

void WriteRefused() {
  Space s;
  ASSERT_OK(s.MapFixed(kBase, P));
  std::vector<shadowmm_cmd> bad = {
      MapCmd(kBase + P, P, kRW, 0),  // no MAP_FIXED: the address is lost
      Cmd(SHADOWMM_OP_GET_STATS),    // nowhere to put the stats
      Cmd(SHADOWMM_OP_NONE),        Cmd(SHADOWMM_NR_OPS), Cmd(1ULL << 40),
  };
  bad[1].ptr = 8;
  bad[1].len = 8;
  for (const shadowmm_cmd& r : bad) {
    ssize_t n = s.Submit({r});
    if (n != -EINVAL)
      SMM_FAIL(false,
               "record with op " + Show(r.op) + " returned " + Show(n) + ", expected -EINVAL");
  }
  EXPECT_EQ(s.Stats().vmas_live, 1u);
}

void WriteStopsAtError() {
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_CLASSIC));
  std::vector<shadowmm_cmd> recs = {
      MapCmd(kBase, 4 * P, kRW),
      MapCmd(kBase + 2 * P, 4 * P, kRW),  // EEXIST
      TouchCmd(kBase, 4 * P, P, true, 1),
  };
  EXPECT_EQ(s.Submit(recs), static_cast<ssize_t>(R));
  shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.vmas_live, 1u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS), 0u);  // the TOUCH never ran
  // The first record fails: its error.
  EXPECT_EQ(s.Submit({recs[1], recs[2]}), -EEXIST);
  EXPECT_EQ(s.Submit({Cmd(SHADOWMM_OP_UNMAP, kBase + 1, P)}), -EINVAL);
  EXPECT_EQ(s.Submit({FaultCmd(kBase + 8 * P, false)}), -EFAULT);
  EXPECT_EQ(s.Submit({Cmd(SHADOWMM_OP_ZAP, kBase, 8 * P)}), -ENOMEM);
  // A fault error after two good ones: 2 records consumed.
  EXPECT_EQ(s.Submit({FaultCmd(kBase, true, 1), FaultCmd(kBase + P, true, 2),
                      FaultCmd(kBase + 4 * P, true, 3), FaultCmd(kBase + 2 * P, true, 4)}),
            static_cast<ssize_t>(2 * R));
  st = s.Stats();
  EXPECT_EQ(st.pages_live, 2u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT_SIGSEGV), 2u);
}

void WriteBadBuffers() {
  Space s;
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  HostPages host(2);
  EXPECT_EQ(s.SubmitRaw(nullptr, R), -EFAULT);
  EXPECT_EQ(s.SubmitRaw(reinterpret_cast<void*>(0xffffffff81000000), R), -EFAULT);
  // Two records, the second in a page that is not there: one runs.
  auto* recs = reinterpret_cast<shadowmm_cmd*>(host.page(1) - R);
  *recs = FaultCmd(kBase, true, 1);
  host.Protect(1, PROT_NONE);
  EXPECT_EQ(s.SubmitRaw(recs, 2 * R), static_cast<ssize_t>(R));
  // A record cut in two by the hole: nothing runs.
  auto* cut = reinterpret_cast<shadowmm_cmd*>(host.page(1) - R / 2);
  EXPECT_EQ(s.SubmitRaw(cut, R), -EFAULT);
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS), 1u);
  EXPECT_EQ(st.pages_live, 1u);
}

void WriteLargeBatch() {
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_CLASSIC));
  ASSERT_OK(s.MapFixed(kBase, 64 * P));
  std::vector<shadowmm_cmd> recs;
  for (uint64_t i = 0; i < 4096; i++) recs.push_back(FaultCmd(kBase + (i % 64) * P, true, i));
  EXPECT_EQ(s.Submit(recs), static_cast<ssize_t>(recs.size() * R));
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS), 4096u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT), 64u);
  EXPECT_EQ(st.pages_live, 64u);
  uint64_t v = 0;
  ASSERT_OK(s.Load(kBase + 5 * P, &v));
  EXPECT_EQ(v, 4096u - 64 + 5);
}

void FileOps() {
  Space s;
  char buf[R];
  EXPECT_EQ(read(s.fd(), buf, sizeof(buf)), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(pread(s.fd(), buf, sizeof(buf), 0), -1);
  EXPECT_EQ(errno, ESPIPE);
  shadowmm_cmd c = MapCmd(kBase, P, kRW);
  EXPECT_EQ(pwrite(s.fd(), &c, sizeof(c), 0), -1);
  EXPECT_EQ(errno, ESPIPE);
  EXPECT_EQ(lseek(s.fd(), 0, SEEK_SET), -1);
  EXPECT_EQ(errno, ESPIPE);
  EXPECT_EQ(s.Stats().vmas_live, 0u);
}

// A ctl opened read-only reads stats and changes nothing: every other
// command needs the file open for writing, as write() does.
void ReadOnlyCtl() {
  Space rw;
  ASSERT_OK(rw.MapFixed(kBase, P));
  int fd = open(DebugfsFile("ctl").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) SMM_FAIL(true, "open ctl read-only: " + ErrName(errno));
  shadowmm_stats st{};
  shadowmm_cmd c = Cmd(SHADOWMM_OP_GET_STATS);
  c.ptr = reinterpret_cast<uintptr_t>(&st);
  c.len = sizeof(st);
  EXPECT_EQ(ioctl(fd, SHADOWMM_IOC_GET_STATS, &c), 0);
  std::vector<shadowmm_cmd> changing = {
      MapCmd(kBase, P, kRW),         Cmd(SHADOWMM_OP_UNMAP, kBase, P),
      ProtectCmd(kBase, P, kRO),     Cmd(SHADOWMM_OP_ZAP, kBase, P),
      FaultCmd(kBase, true, 1),      FaultCmd(kBase, false),
      TouchCmd(kBase, P, P, false),  Cmd(SHADOWMM_OP_SET_MODE),
      Cmd(SHADOWMM_OP_SET_GEOMETRY),
  };
  for (shadowmm_cmd& cmd : changing) {
    errno = 0;
    int ret = ioctl(fd, SHADOWMM_IOC(cmd.op), &cmd);
    if (ret != -1 || errno != EBADF)
      SMM_FAIL(false, "read-only ioctl op " + Show(cmd.op) + ": " + Show(ret) + " " +
                          ErrName(errno) + ", expected EBADF");
  }
  EXPECT_EQ(write(fd, &changing[0], R), -1);
  EXPECT_EQ(errno, EBADF);
  st = {};
  c = Cmd(SHADOWMM_OP_GET_STATS);
  c.ptr = reinterpret_cast<uintptr_t>(&st);
  c.len = sizeof(st);
  EXPECT_EQ(ioctl(fd, SHADOWMM_IOC_GET_STATS, &c), 0);
  EXPECT_EQ(st.vmas_live, 0u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS), 0u);
  // GET_INFO reads too.
  shadowmm_info info{};
  c = Cmd(SHADOWMM_OP_GET_INFO);
  c.ptr = reinterpret_cast<uintptr_t>(&info);
  c.len = sizeof(info);
  EXPECT_EQ(ioctl(fd, SHADOWMM_IOC_GET_INFO, &c), 0);
  EXPECT_EQ(info.page_size, P);
  close(fd);
}

// GET_INFO: the geometry of the space, versioned like GET_STATS.
void GetInfo() {
  Space s;
  shadowmm_info info = s.Info();
  EXPECT_EQ(info.page_size, P);
  EXPECT_EQ(uint64_t{1} << info.page_shift, info.page_size);
  EXPECT_EQ(info.pt_levels, uint64_t{SHADOWMM_PT_LEVELS});
  EXPECT_EQ(info.task_size, SHADOWMM_TASK_SIZE);
  EXPECT_EQ(info.mmap_min_addr, SHADOWMM_MMAP_MIN_ADDR);
  EXPECT_EQ(info.host_page_size, uint64_t(sysconf(_SC_PAGESIZE)));
  uint64_t bits = info.page_shift;
  for (uint64_t b : info.pt_bits) bits += b;
  EXPECT_GE(bits, 48u);
  // The host geometry is the kernel's own page size.
  ASSERT_OK(s.SetGeometry(SHADOWMM_GEOM_HOST));
  EXPECT_EQ(s.Info().page_size, uint64_t(sysconf(_SC_PAGESIZE)));
  // len 0 asks the size; a short buffer gets what fits; flags: EINVAL.
  shadowmm_cmd c = Cmd(SHADOWMM_OP_GET_INFO);
  ASSERT_OK(s.Ioctl(c));
  EXPECT_EQ(c.out_len, sizeof(shadowmm_info));
  uint64_t two[3] = {~0ULL, ~0ULL, ~0ULL};
  c = Cmd(SHADOWMM_OP_GET_INFO);
  c.ptr = reinterpret_cast<uintptr_t>(two);
  c.len = 2 * sizeof(uint64_t);
  ASSERT_OK(s.Ioctl(c));
  EXPECT_EQ(two[1], s.Info().page_shift);
  EXPECT_EQ(two[2], ~0ULL);
  c = Cmd(SHADOWMM_OP_GET_INFO);
  c.ptr = reinterpret_cast<uintptr_t>(two);
  c.len = sizeof(uint64_t);
  c.flags = 1;
  EXPECT_ERR(s.Ioctl(c), EINVAL);
  c.flags = 0;
  c.ptr = 8;
  EXPECT_ERR(s.Ioctl(c), EFAULT);
  // Not a record: nothing could carry it back.
  shadowmm_cmd rec = Cmd(SHADOWMM_OP_GET_INFO);
  EXPECT_EQ(s.Submit({rec}), -EINVAL);
}

// The budget is in the space's own pages: N 64 KiB pages, not N x 4 KiB.
void BudgetInSpacePages() {
  SettingGuard keep(ParamFile("max_pages"), "5");
  for (uint64_t g : {SHADOWMM_GEOM_4K, SHADOWMM_GEOM_64K}) {
    Space s;
    ASSERT_OK(s.SetGeometry(g));
    const uint64_t page = s.Info().page_size;
    EXPECT_ERR(s.MapFixed(kBase, 6 * page), ENOMEM);
    ASSERT_OK(s.MapFixed(kBase, 6 * page - page));
    ASSERT_OK(s.MapFixed(kBase + 5 * page, page));
    ASSERT_OK(s.Touch(kBase, 5 * page, page, true, 1));
    EXPECT_ERR(s.Store(kBase + 5 * page, 1), ENOMEM);
    EXPECT_EQ(s.Stats().pages_live, 5u);
  }
}

// SET_GEOMETRY: either geometry on any kernel, on an empty space only.
void SetGeometry() {
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_SPF));
  EXPECT_ERR(s.SetGeometry(SHADOWMM_NR_GEOMS), EINVAL);
  EXPECT_ERR(s.SetGeometry(uint64_t{1} << 32 | SHADOWMM_GEOM_4K), EINVAL);
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_GEOMETRY);
  c.value = SHADOWMM_GEOM_4K;
  c.flags = 1;
  EXPECT_ERR(s.Ioctl(c), EINVAL);
  for (uint64_t g : {SHADOWMM_GEOM_64K, SHADOWMM_GEOM_4K, SHADOWMM_GEOM_64K}) {
    ASSERT_OK(s.SetGeometry(g));
    const shadowmm_info info = s.Info();
    EXPECT_EQ(info.geometry, g);
    const uint64_t page = info.page_size;
    EXPECT_EQ(page, g == SHADOWMM_GEOM_64K ? 65536u : 4096u);
    ASSERT_OK(s.MapFixed(kBase, 40 * page));
    EXPECT_ERR(s.SetGeometry(SHADOWMM_GEOM_4K), EBUSY);
    uint64_t faults = 0;
    ASSERT_OK(s.Touch(kBase, 40 * page, page, true, 3, &faults));
    EXPECT_EQ(faults, 40u);
    EXPECT_EQ(s.Stats().pages_live, 40u);
    if (page > SHADOWMM_PAGE_SIZE_MIN) EXPECT_ERR(s.Unmap(kBase, SHADOWMM_PAGE_SIZE_MIN), EINVAL);
    ASSERT_OK(s.Unmap(kBase, 40 * page));
    EXPECT_EQ(s.Stats().pages_live, 0u);
  }
  // Written as a record too.
  c = Cmd(SHADOWMM_OP_SET_GEOMETRY);
  c.value = SHADOWMM_GEOM_4K;
  EXPECT_EQ(s.Submit({c}), static_cast<ssize_t>(sizeof(c)));
  EXPECT_EQ(s.Info().page_size, 4096u);
}

// Ops that take no flags refuse them, by ioctl and by record.
void UnusedFlags() {
  Space s;
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  ASSERT_OK(s.Touch(kBase, 4 * P, P, true, 1));
  for (uint64_t flags : {1ULL, 2ULL, 1ULL << 63}) {
    std::vector<shadowmm_cmd> cmds = {Cmd(SHADOWMM_OP_UNMAP, kBase, P), ProtectCmd(kBase, P, kRO),
                                      Cmd(SHADOWMM_OP_ZAP, kBase, P), Cmd(SHADOWMM_OP_SET_MODE)};
    for (shadowmm_cmd& c : cmds) {
      c.flags = flags;
      shadowmm_cmd rec = c;
      EXPECT_ERR(s.Ioctl(c), EINVAL);
      EXPECT_EQ(s.Submit({rec}), -EINVAL);
    }
    shadowmm_stats st{};
    shadowmm_cmd g = Cmd(SHADOWMM_OP_GET_STATS);
    g.ptr = reinterpret_cast<uintptr_t>(&st);
    g.len = sizeof(st);
    g.flags = flags;
    EXPECT_ERR(s.Ioctl(g), EINVAL);
  }
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.vmas_live, 1u);
  EXPECT_EQ(st.pages_live, 4u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_PROTECT), 0u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_ZAP), 0u);
}

// vfs_write() trims a count above MAX_RW_COUNT (INT_MAX rounded down to a
// page), which is not whole records: the whole records in it still run.
void WriteTrimmedToMaxRwCount() {
  const size_t max_rw = INT_MAX & ~(static_cast<size_t>(getpagesize()) - 1);
  const size_t len = max_rw + 2 * R;
  void* buf = mmap(nullptr, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (buf == MAP_FAILED) SKIP("cannot reserve 2 GiB of address space: " + ErrName(errno));
  Space s;
  ASSERT_OK(s.MapFixed(kBase, P));
  // One good record, then zeros (op NONE) that stop the batch.
  auto* recs = static_cast<shadowmm_cmd*>(buf);
  recs[0] = FaultCmd(kBase, true, 5);
  EXPECT_EQ(s.SubmitRaw(buf, len), static_cast<ssize_t>(R));
  EXPECT_EQ(s.SubmitRaw(buf, max_rw), static_cast<ssize_t>(R));
  uint64_t v = 0;
  ASSERT_OK(s.Load(kBase, &v));
  EXPECT_EQ(v, 5u);
  munmap(buf, len);
}

volatile sig_atomic_t alarms;
void OnAlarm(int) { alarms = alarms + 1; }

// Arms SIGALRM (handled, no SA_RESTART) @us from now; disarms on scope exit.
class AlarmIn {
 public:
  explicit AlarmIn(long us) {
    struct sigaction sa = {};
    sa.sa_handler = OnAlarm;
    sigaction(SIGALRM, &sa, &old_);
    itimerval t = {};
    t.it_value.tv_usec = us;
    setitimer(ITIMER_REAL, &t, nullptr);
  }
  ~AlarmIn() {
    itimerval t = {};
    setitimer(ITIMER_REAL, &t, nullptr);
    sigaction(SIGALRM, &old_, nullptr);
  }

 private:
  struct sigaction old_;
};

// Repeats @run until SIGALRM, due @us after the start, has been handled;
// returns whether the signal landed inside a call (@run says so by
// returning true), as it almost always does since the calls are long.
template <class F>
bool SignalLandsInside(long us, F run) {
  for (int attempt = 0; attempt < 5; attempt++) {
    alarms = 0;
    AlarmIn alarm(us);
    bool inside = false;
    while (!alarms) inside = run();
    if (inside) return true;
  }
  return false;
}

// A handled signal stops a long TOUCH or write() batch like a short read():
// what was done, or EINTR if nothing was.
void SignalStopsLongCommands() {
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_CLASSIC));
  const uint64_t kLen = 256 * P;
  ASSERT_OK(s.MapFixed(kBase, kLen));
  ASSERT_OK(s.Touch(kBase, kLen, P, true, 1));
  // 8-byte strides over 1 MiB: 131072 accesses per call.
  bool touch_ok = true;
  bool stopped = SignalLandsInside(20000, [&] {
    shadowmm_cmd t = TouchCmd(kBase, kLen, 8, false);
    int err = s.Ioctl(t);
    if (err == EINTR) {
      touch_ok &= t.out_len == 0;
      return true;
    }
    touch_ok &= err == 0 && t.out_len > 0 && t.out_len <= kLen && t.out_len % 8 == 0;
    return t.out_len < kLen;
  });
  EXPECT_TRUE(touch_ok);
  if (!stopped) SMM_FAIL(false, "no TOUCH stopped short for a signal in 5 tries");

  std::vector<shadowmm_cmd> recs(16384, FaultCmd(kBase, false));
  const ssize_t whole = static_cast<ssize_t>(recs.size() * R);
  bool batch_ok = true;
  stopped = SignalLandsInside(20000, [&] {
    ssize_t n = s.Submit(recs);
    if (n == -EINTR) return true;
    batch_ok &= n > 0 && n <= whole && n % static_cast<ssize_t>(R) == 0;
    return n < whole;
  });
  EXPECT_TRUE(batch_ok);
  if (!stopped) SMM_FAIL(false, "no write() batch stopped short for a signal in 5 tries");
  // Without a signal both run whole.
  shadowmm_cmd t = TouchCmd(kBase, kLen, P, false);
  ASSERT_OK(s.Ioctl(t));
  EXPECT_EQ(t.out_len, kLen);
  EXPECT_EQ(s.Submit(recs), whole);
}

}  // namespace

void AddAbiTests(Tap& tap) {
  tap.Add("ioctl: unknown numbers, wrong size, direction or magic: ENOTTY", IoctlNumbers);
  tap.Add("ioctl: op field is 0 or the ioctl's, else EINVAL", IoctlOpField);
  tap.Add("ioctl: out_* written back, 0 where an op has no output", IoctlOutFields);
  tap.Add("ioctl: bad, partial and read-only command pointers: EFAULT", IoctlBadPointers);
  tap.Add("GET_STATS: len 0 asks the size, short and long buffers, EFAULT", GetStatsSizes);
  tap.Add("write: a batch of every record type runs in order", WriteBatch);
  tap.Add("write: sizes that are not whole records are EINVAL", WriteSizes);
  tap.Add("write: MAP without FIXED, GET_STATS, unknown ops are EINVAL", WriteRefused);
  tap.Add("write: stops at the first failing record, returns bytes before it", WriteStopsAtError);
  tap.Add("write: bad buffers are EFAULT; a hole after a record: short count", WriteBadBuffers);
  tap.Add("write: 4096 records in one call", WriteLargeBatch);
  tap.Add("ctl: read, pread, pwrite and lseek are refused", FileOps);
  tap.Add("ctl: opened read-only, only GET_STATS/GET_INFO run; the rest EBADF", ReadOnlyCtl);
  tap.Add("GET_INFO: page size and tables; len 0, short buffer, flags, EFAULT", GetInfo);
  tap.Add("SET_GEOMETRY: 4k and 64k work; EBUSY with VMAs; bad values EINVAL", SetGeometry);
  tap.Add("max_pages: counts pages of the space's size (5 x 64 KiB admits 5)", BudgetInSpacePages);
  tap.Add("ops without flags refuse any, by ioctl and by record", UnusedFlags);
  tap.Add("write: trimmed to MAX_RW_COUNT, the whole records in it run", WriteTrimmedToMaxRwCount);
  tap.Add("signal: a long TOUCH or batch stops short, or EINTR", SignalStopsLongCommands);
}

}  // namespace shadowmm::selftest
