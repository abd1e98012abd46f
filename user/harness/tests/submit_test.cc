// SPDX-License-Identifier: GPL-2.0
//
// Batched records without the module: commands queued by a shadow thread
// are written (by write() or io_uring) to a plain file, then replayed into
// a core linked in here.  A workload recorded that way must leave the same
// counters as the same workload run on the inproc backend directly: the
// records carry everything the module needs.
#include "submit.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "arena.h"
#include "shadow_thread.h"
#include "test_util.h"
#include "workload.h"

extern "C" {
#include "smm_api.h"
}

namespace shadowmm {
namespace {

class TempFile {
 public:
  TempFile() {
    char path[] = "/tmp/shadowmm-records-XXXXXX";
    fd_ = mkstemp(path);
    if (fd_ < 0) throw SysError("mkstemp", errno);
    unlink(path);
    // O_APPEND: every thread's batch lands whole, in completion order.
    fcntl(fd_, F_SETFL, O_APPEND);
  }
  ~TempFile() { close(fd_); }
  int fd() const { return fd_; }

  std::vector<shadowmm_cmd> Records() const {
    off_t size = lseek(fd_, 0, SEEK_END);
    EXPECT_EQ(size % sizeof(shadowmm_cmd), 0);
    std::vector<shadowmm_cmd> recs(size / sizeof(shadowmm_cmd));
    EXPECT_EQ(pread(fd_, recs.data(), size, 0), size);
    return recs;
  }

 private:
  int fd_;
};

// A shadow thread whose commands only go to the file.
class RecordingThread : public ShadowThread {
 public:
  RecordingThread(AddressArenas& arenas, unsigned index, int fd, Submit how)
      : ShadowThread(arenas, index, 0), records_(MakeRecordSubmitter(how, fd, 5)) {}
  void Flush() override { records_->Flush(); }

 protected:
  bool Exec(shadowmm_cmd& cmd, bool need_out) override {
    if (need_out) throw Error("a recording has no results");
    records_->Queue(cmd);
    return false;
  }

 private:
  std::unique_ptr<RecordSubmitter> records_;
};

class RecordingBackend : public Backend {
 public:
  RecordingBackend(unsigned threads, Submit how)
      : arenas_(threads + 1, SHADOWMM_PAGE_SIZE_MIN), how_(how) {
    // As the real shadow backends do when they create the space.
    for (const shadowmm_cmd& cmd : NeighbourCmds(arenas_))
      EXPECT_EQ(write(file.fd(), &cmd, sizeof(cmd)), static_cast<ssize_t>(sizeof(cmd)));
  }
  std::string_view Name() const override { return "recording"; }
  uint64_t PageSize() const override { return SHADOWMM_PAGE_SIZE_MIN; }
  unsigned Geometry() const override { return SHADOWMM_GEOM_4K; }
  std::unique_ptr<BackendThread> Attach(unsigned index) override {
    return std::make_unique<RecordingThread>(arenas_, index, file.fd(), how_);
  }
  void SetMode(Mode) override {}
  Mode GetMode() override { return Mode::kClassic; }
  shadowmm_stats Stats() override { return {}; }
  // A recording space has no budget; the workloads recorded here set none.
  shadowmm_memory Memory() override { return {}; }
  std::optional<unsigned> SwapPolicy() override { return std::nullopt; }
  void SetMemory(const shadowmm_memory&) override { throw Error("a recording has no memory"); }
  void SetSwapPolicy(unsigned) override { throw Error("a recording has no swap"); }
  std::optional<uint64_t> Reclaim(uint64_t, uint64_t, uint64_t) override {
    throw Error("a recording has no swap");
  }

  TempFile file;

 private:
  AddressArenas arenas_;
  Submit how_;
};

shadowmm_stats Replay(const std::vector<shadowmm_cmd>& records) {
  InitInprocCore();
  smm_mm* mm = nullptr;
  // In the recording's geometry, whatever the host's page size is.
  EXPECT_EQ(smm_mm_create(nullptr, SHADOWMM_MODE_CLASSIC, SHADOWMM_GEOM_4K, &mm), 0);
  for (shadowmm_cmd cmd : records) {
    EXPECT_EQ(cmd.out_addr | cmd.out_value | cmd.out_faults | cmd.out_len, 0u);
    if (cmd.op == SHADOWMM_OP_MAP) {
      EXPECT_TRUE(cmd.flags & SHADOWMM_MAP_FIXED);
    }
    EXPECT_EQ(smm_exec(mm, &cmd), 0) << OpName(cmd.op) << " " << Hex(cmd.addr);
  }
  shadowmm_stats st{};
  smm_mm_stats(mm, &st);
  smm_mm_destroy(mm);
  return st;
}

class RecordReplay : public testing::TestWithParam<Submit> {};

TEST_P(RecordReplay, RecordedWorkloadMatchesInproc) {
  WorkloadOptions multifault;
  multifault.name = "multifault";
  multifault.multifault_pages = 3;
  WorkloadOptions ebizzy;
  ebizzy.ebizzy = "-mTRp -n 4 -s 65536";
  WorkloadOptions ebizzy_copy;
  ebizzy_copy.ebizzy = "-mRP -n 3 -s 16384";
  for (const WorkloadOptions& wo : {ebizzy, ebizzy_copy, multifault}) {
    SCOPED_TRACE(wo.name + " " + wo.ebizzy);
    RunConfig rc;
    rc.threads = 2;
    rc.iterations = 15;

    RecordingBackend recording(2, GetParam());
    std::unique_ptr<Workload> w1 = MakeWorkload(wo);
    try {
      RunWorkload(recording, *w1, rc);
    } catch (const SysError& e) {
      if (GetParam() == Submit::kUring && (e.err() == ENOSYS || e.err() == EPERM))
        GTEST_SKIP() << "io_uring unavailable here: " << e.what();
      throw;
    }
    shadowmm_stats replayed = Replay(recording.file.Records());

    BackendConfig direct_config = Config("inproc", 2);
    direct_config.geometry = SHADOWMM_GEOM_4K;
    std::unique_ptr<Backend> inproc = MakeBackend(direct_config);
    std::unique_ptr<Workload> w2 = MakeWorkload(wo);
    RunWorkload(*inproc, *w2, rc);
    shadowmm_stats direct = inproc->Stats();

    for (shadowmm_counter c : {SHADOWMM_EV_ACCESS, SHADOWMM_EV_ACCESS_HIT, SHADOWMM_EV_FAULT,
                               SHADOWMM_EV_PAGE_ALLOC, SHADOWMM_EV_PAGE_FREE, SHADOWMM_EV_OP_MAP,
                               SHADOWMM_EV_OP_UNMAP, SHADOWMM_EV_OP_PROTECT, SHADOWMM_EV_OP_ZAP})
      EXPECT_EQ(replayed.counter[c], direct.counter[c]) << CounterName(c);
    EXPECT_GT(direct.counter[SHADOWMM_EV_FAULT], 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Submit, RecordReplay, testing::Values(Submit::kWrite, Submit::kUring),
                         [](const testing::TestParamInfo<Submit>& info) {
                           return std::string(SubmitName(info.param));
                         });

// A file that takes at most @max_records per write, and fails record @fail.
class ShortWrites : public RecordSubmitter {
 public:
  ShortWrites(unsigned batch, size_t max_records, size_t fail)
      : RecordSubmitter(-1, batch), max_(max_records), fail_(fail) {}
  std::vector<shadowmm_cmd> seen;
  size_t writes = 0;

 protected:
  long WriteOnce(const void* buf, size_t len) override {
    writes++;
    const auto* recs = static_cast<const shadowmm_cmd*>(buf);
    size_t n = std::min(len / sizeof(shadowmm_cmd), max_);
    for (size_t i = 0; i < n; i++) {
      if (seen.size() == fail_) return i ? static_cast<long>(i * sizeof(shadowmm_cmd)) : -ENOMEM;
      seen.push_back(recs[i]);
    }
    return static_cast<long>(n * sizeof(shadowmm_cmd));
  }
  const char* how() const override { return "test write"; }

 private:
  size_t max_;
  size_t fail_;
};

shadowmm_cmd Touch(uint64_t addr) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_TOUCH;
  cmd.addr = addr;
  cmd.len = SHADOWMM_PAGE_SIZE_MIN;
  cmd.stride = SHADOWMM_PAGE_SIZE_MIN;
  cmd.out_faults = 99;  // outputs never go out in a record
  return cmd;
}

TEST(RecordSubmitter, ShortCountsAreResubmittedInOrder) {
  ShortWrites file(8, 3, ~size_t{0});
  for (uint64_t i = 0; i < 10; i++) file.Queue(Touch(i * SHADOWMM_PAGE_SIZE_MIN));
  EXPECT_EQ(file.queued(), 2u);  // 8 went out when the batch filled
  file.Flush();
  ASSERT_EQ(file.seen.size(), 10u);
  for (uint64_t i = 0; i < 10; i++) {
    EXPECT_EQ(file.seen[i].addr, i * SHADOWMM_PAGE_SIZE_MIN);
    EXPECT_EQ(file.seen[i].out_faults, 0u);
  }
  EXPECT_EQ(file.writes, 4u);  // 3 + 3 + 2, then 2
}

TEST(RecordSubmitter, AFailedRecordIsNamed) {
  ShortWrites file(100, 100, 4);
  for (uint64_t i = 0; i < 6; i++) file.Queue(Touch(i * SHADOWMM_PAGE_SIZE_MIN));
  try {
    file.Flush();
    FAIL();
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), ENOMEM);
    EXPECT_NE(std::string(e.what()).find("record 4 (TOUCH at 0x4000)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(file.queued(), 0u);
}

}  // namespace
}  // namespace shadowmm
