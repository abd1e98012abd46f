// SPDX-License-Identifier: GPL-2.0
// Model tests: long random sequences of map/unmap/protect/zap/fault run on
// the core and on a reference model (model.h), compared after every step,
// under every fault mode; and the same with the Nth allocation failing,
// for every N, which must change nothing and leak nothing.
#include <random>

#include "model_compare.h"
#include "model_steps.h"

namespace smm_test {
namespace {

using smm_model::apply;
using smm_model::random_step;
using smm_model::Step;

// One step on both, then the full comparison.
std::string step_and_compare(const Space& s, Model& m, const Step& st, bool may_fail) {
  std::string diff = apply(s, m, st, may_fail);
  return diff.empty() ? compare(s, m) : diff;
}

// Every mode in every geometry: the 64K one runs here on a 4 KiB-page
// host too, so ASan and TSan cover it.
class ModelTest : public CoreTest,
                  public ::testing::WithParamInterface<std::tuple<unsigned, unsigned>> {
 protected:
  unsigned mode() const { return std::get<0>(GetParam()); }
  unsigned geometry() const { return std::get<1>(GetParam()); }
};

TEST_P(ModelTest, RandomSequencesMatchModel) {
  for (uint64_t seed = 1; seed <= 4; seed++) {
    std::mt19937_64 rng(seed * 7919 + mode());
    Space s(mode(), {}, geometry());
    const uint64_t page = s.page_size();
    Model m(page);
    for (int i = 0; i < 1500; i++) {
      Step st = random_step(rng, page);
      std::string diff = step_and_compare(s, m, st, false);
      ASSERT_EQ(diff, "") << "seed " << seed << " step " << i;
    }
  }
}

// Fails the 1st, 2nd, ... allocation of a fixed sequence until a run has no
// failure left to inject; each run must match the model and leak nothing.
TEST_P(ModelTest, FailNthAllocationLosesNothing) {
  std::vector<Step> steps;
  const uint64_t page = Space(mode(), {}, geometry()).page_size();
  std::mt19937_64 rng(42 + mode());
  for (int i = 0; i < 120; i++) steps.push_back(random_step(rng, page));
  rcu_barrier();  // the PGD of the space asked for its page size
  long baseline = smm_shim_allocs_live(-1);
  long nth;
  for (nth = 1; nth < 100000; nth++) {
    smm_shim_fail_nth(nth);
    {
      Space s(mode(), {}, geometry());
      if (s.create_result() == 0) {
        Model m(page);
        for (size_t i = 0; i < steps.size(); i++) {
          std::string diff = step_and_compare(s, m, steps[i], true);
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

INSTANTIATE_TEST_SUITE_P(
    Modes, ModelTest,
    ::testing::Combine(::testing::Values(SHADOWMM_MODE_CLASSIC, SHADOWMM_MODE_SPF,
                                         SHADOWMM_MODE_VMALOCK, SHADOWMM_MODE_MMSEQ),
                       ::testing::Values(SHADOWMM_GEOM_4K, SHADOWMM_GEOM_64K)),
    [](const auto& info) {
      return std::string(mode_name(std::get<0>(info.param))) + "_" +
             smm_geometry_name(std::get<1>(info.param));
    });

}  // namespace
}  // namespace smm_test
