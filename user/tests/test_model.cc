// SPDX-License-Identifier: GPL-2.0
// Model tests: long random sequences of map/unmap/protect/zap/fault run on
// the core and on a reference model (model.h), compared after every step,
// under every fault mode; and the same with the Nth allocation failing,
// for every N, which must change nothing and leak nothing.
#include <random>

#include "model_compare.h"

namespace smm_test {
namespace {

// 4 MiB window: two PTE tables, so table freeing and sharing both happen.
constexpr uint64_t kWindow = 0x40000000;
constexpr uint64_t kWindowPages = 1024;

struct Step {
  int op;
  uint64_t addr, len, prot;
  bool write;
  uint64_t value;
};

Step random_step(std::mt19937_64& rng) {
  Step st{};
  st.op = static_cast<int>(rng() % 10);
  uint64_t page = rng() % kWindowPages;
  st.addr = kWindow + page * kPage;
  st.len = (1 + rng() % std::min<uint64_t>(48, kWindowPages - page)) * kPage;
  st.prot = rng() % 3 == 0 ? kRO : rng() % 5 == 0 ? kNone : kRW;
  st.write = rng() % 2;
  st.value = rng();
  if (st.op >= 5) st.addr += (rng() % 512) * 8;  // faults anywhere in a page
  return st;
}

// Runs @st on both; under fail-Nth an -ENOMEM must leave the model as is.
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
  return compare(s, m);
}

class ModelTest : public CoreTest, public ::testing::WithParamInterface<unsigned> {};

TEST_P(ModelTest, RandomSequencesMatchModel) {
  for (uint64_t seed = 1; seed <= 4; seed++) {
    std::mt19937_64 rng(seed * 7919 + GetParam());
    Space s(GetParam());
    Model m;
    for (int i = 0; i < 1500; i++) {
      Step st = random_step(rng);
      std::string diff = apply(s, m, st, false);
      ASSERT_EQ(diff, "") << "seed " << seed << " step " << i;
    }
  }
}

// Fails the 1st, 2nd, ... allocation of a fixed sequence until a run has no
// failure left to inject; each run must match the model and leak nothing.
TEST_P(ModelTest, FailNthAllocationLosesNothing) {
  std::vector<Step> steps;
  std::mt19937_64 rng(42 + GetParam());
  for (int i = 0; i < 120; i++) steps.push_back(random_step(rng));
  long baseline = smm_shim_allocs_live(-1);
  long nth;
  for (nth = 1; nth < 100000; nth++) {
    smm_shim_fail_nth(nth);
    {
      Space s(GetParam());
      if (s.create_result() == 0) {
        Model m;
        for (size_t i = 0; i < steps.size(); i++) {
          std::string diff = apply(s, m, steps[i], true);
          ASSERT_EQ(diff, "") << "fail-nth " << nth << " step " << i;
        }
      } else {
        ASSERT_EQ(s.create_result(), -ENOMEM);
      }
    }
    bool reached = smm_shim_fail_nth_pending() == 0;
    smm_shim_fail_nth(0);
    rcu_barrier();
    ASSERT_EQ(smm_shim_allocs_live(-1), baseline) << "leak with fail-nth " << nth;
    if (!reached) break;
  }
  EXPECT_GT(nth, 50) << "the sequence should allocate more than that";
}

INSTANTIATE_TEST_SUITE_P(Modes, ModelTest,
                         ::testing::Values(SHADOWMM_MODE_CLASSIC, SHADOWMM_MODE_SPF,
                                           SHADOWMM_MODE_VMALOCK, SHADOWMM_MODE_MMSEQ),
                         [](const auto& info) { return std::string(mode_name(info.param)); });

}  // namespace
}  // namespace smm_test
