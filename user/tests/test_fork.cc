// SPDX-License-Identifier: GPL-2.0
// FORK and copy-on-write: a child sees its parent's memory as it was at
// the fork, the first write on either side copies a shared page (or
// reuses it once it is the writer's alone) in every mode, swap entries
// and reclaim work across the family, a failed fork changes nothing, and
// writers racing forks never give a child an inconsistent snapshot.  The
// consistency checker runs on parent and child after each.
#include <random>

#include "fork_snapshot.h"
#include "model_compare.h"
#include "model_steps.h"

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x60000000;
constexpr int kPages = 8;

uint64_t pattern(uint64_t page) { return 0xf0c0000ULL + page * 104729; }

void fill(const Space& s, uint64_t base, int pages) {
  for (int p = 0; p < pages; p++) ASSERT_EQ(s.fault(base + p * kPage, true, pattern(p)), 0);
}

uint64_t read(const Space& s, uint64_t addr) {
  uint64_t v = 0;
  EXPECT_EQ(s.fault(addr, false, 0, &v), 0);
  return v;
}

int set_swap(const Space& s, uint64_t slots) {
  shadowmm_memory mem{.swap_slots = slots};
  return smm_set_memory(s.get(), &mem);
}

class ForkModes : public CoreTest, public ::testing::WithParamInterface<unsigned> {
 protected:
  unsigned mode() const { return GetParam(); }
};

// The child reads what the parent wrote without faulting; a write on
// either side copies; once the other side is gone a write reuses.
TEST_P(ForkModes, WritesCopyThenReuse) {
  Space parent(mode());
  ASSERT_EQ(parent.map(kBase, kPages * kPage, kRW), 0);
  fill(parent, kBase, kPages);
  auto child = parent.fork();
  ASSERT_TRUE(child);
  EXPECT_EQ(parent.counter(SHADOWMM_EV_FORK), 1u);
  EXPECT_EQ(parent.counter(SHADOWMM_EV_FORK_PAGES), uint64_t{kPages});
  EXPECT_EQ(child->stats().pages_live, uint64_t{kPages}) << "shared, not copied";
  for (int p = 0; p < kPages; p++) {
    bool faulted = true;
    uint64_t v = 0;
    ASSERT_EQ(child->fault(kBase + p * kPage, false, 0, &v, &faulted), 0);
    EXPECT_EQ(v, pattern(p));
    EXPECT_FALSE(faulted) << "a read of a shared page needs no fault";
  }
  ASSERT_EQ(child->fault(kBase, true, 1), 0);
  ASSERT_EQ(parent.fault(kBase + kPage, true, 2), 0);
  EXPECT_EQ(read(parent, kBase), pattern(0));
  EXPECT_EQ(read(*child, kBase + kPage), pattern(1));
  EXPECT_EQ(read(*child, kBase), 1u);
  EXPECT_EQ(read(parent, kBase + kPage), 2u);
  EXPECT_EQ(child->counter(SHADOWMM_EV_COW_COPY), 1u) << "each space counts its own faults";
  EXPECT_EQ(child->stats().pages_live, uint64_t{kPages + 2});
  EXPECT_EQ(parent.validate(), "");
  EXPECT_EQ(child->validate(), "");
  child.reset();
  EXPECT_EQ(parent.stats().pages_live, uint64_t{kPages});
  ASSERT_EQ(parent.fault(kBase + 2 * kPage, true, 3), 0);
  EXPECT_EQ(parent.counter(SHADOWMM_EV_COW_REUSE), 1u);
  EXPECT_EQ(parent.counter(SHADOWMM_EV_COW_COPY), 1u);
  EXPECT_EQ(parent.validate(), "");
}

// Either side's exit, zap or unmap leaves the other's pages intact.
TEST_P(ForkModes, SharedPagesSurviveTheOtherSide) {
  Space parent(mode());
  ASSERT_EQ(parent.map(kBase, kPages * kPage, kRW), 0);
  fill(parent, kBase, kPages);
  auto child = parent.fork();
  ASSERT_TRUE(child);
  ASSERT_EQ(parent.zap(kBase, 2 * kPage), 0);
  ASSERT_EQ(parent.unmap(kBase + 6 * kPage, 2 * kPage), 0);
  for (int p = 0; p < kPages; p++) EXPECT_EQ(read(*child, kBase + p * kPage), pattern(p));
  EXPECT_EQ(parent.validate(), "");
  EXPECT_EQ(child->validate(), "");
  auto grandchild = child->fork();
  ASSERT_TRUE(grandchild);
  child.reset();
  for (int p = 0; p < kPages; p++) EXPECT_EQ(read(*grandchild, kBase + p * kPage), pattern(p));
  for (int p = 2; p < 6; p++) EXPECT_EQ(read(parent, kBase + p * kPage), pattern(p));
  EXPECT_EQ(grandchild->validate(), "");
  EXPECT_EQ(parent.validate(), "");
}

// VMAs with every protection come over; a protect back to writable keeps
// shared pages read-only, so the write still copies.
TEST_P(ForkModes, ProtectionsAndProtectKeepCow) {
  Space parent(mode());
  ASSERT_EQ(parent.map(kBase, kPages * kPage, kRW), 0);
  fill(parent, kBase, kPages);
  ASSERT_EQ(parent.protect(kBase + 2 * kPage, kPage, kRO), 0);
  ASSERT_EQ(parent.protect(kBase + 4 * kPage, kPage, kNone), 0);
  auto child = parent.fork();
  ASSERT_TRUE(child);
  auto pv = parent.vmas(), cv = child->vmas();
  ASSERT_EQ(pv.size(), cv.size());
  for (size_t i = 0; i < pv.size(); i++) {
    EXPECT_EQ(pv[i].start, cv[i].start);
    EXPECT_EQ(pv[i].end, cv[i].end);
    EXPECT_EQ(pv[i].prot, cv[i].prot);
  }
  EXPECT_EQ(child->fault(kBase + 2 * kPage, true, 9), -EFAULT);
  EXPECT_EQ(child->fault(kBase + 4 * kPage, false), -EFAULT);
  ASSERT_EQ(parent.protect(kBase, kPages * kPage, kRW), 0);
  ASSERT_EQ(parent.fault(kBase + 2 * kPage, true, 7), 0);
  ASSERT_EQ(parent.fault(kBase + 4 * kPage, true, 8), 0);
  EXPECT_EQ(parent.counter(SHADOWMM_EV_COW_COPY), 2u);
  ASSERT_EQ(child->protect(kBase, kPages * kPage, kRW), 0);
  EXPECT_EQ(read(*child, kBase + 2 * kPage), pattern(2));
  EXPECT_EQ(read(*child, kBase + 4 * kPage), pattern(4));
  EXPECT_EQ(parent.validate(), "");
  EXPECT_EQ(child->validate(), "");
}

// Swap entries are copied with a slot reference; both sides read the
// page back; reclaim of a shared page unmaps it from both through the
// rmap; no slot outlives the family.
TEST_P(ForkModes, SwapAndReclaimAcrossTheFamily) {
  Space parent(mode());
  ASSERT_EQ(set_swap(parent, 64), 0);
  ASSERT_EQ(parent.map(kBase, kPages * kPage, kRW), 0);
  fill(parent, kBase, kPages);
  shadowmm_cmd rc{.op = SHADOWMM_OP_RECLAIM, .addr = kBase, .len = 4 * kPage};
  ASSERT_EQ(parent.exec(rc), 0);
  EXPECT_EQ(rc.out_value, 4u);
  auto child = parent.fork();
  ASSERT_TRUE(child);
  EXPECT_EQ(parent.counter(SHADOWMM_EV_FORK_SWAP), 4u);
  EXPECT_EQ(parent.validate(), "");
  EXPECT_EQ(child->validate(), "");
  // The other half, shared, reclaimed by the child: out of both.
  shadowmm_cmd rc2{.op = SHADOWMM_OP_RECLAIM, .addr = kBase + 4 * kPage, .len = 4 * kPage};
  ASSERT_EQ(child->exec(rc2), 0);
  EXPECT_EQ(rc2.out_value, 4u);
  EXPECT_FALSE(parent.peek(kBase + 5 * kPage) == std::nullopt);
  for (int p = 0; p < kPages; p++) EXPECT_EQ(read(*child, kBase + p * kPage), pattern(p));
  ASSERT_EQ(child->fault(kBase, true, 5), 0);
  for (int p = 0; p < kPages; p++) EXPECT_EQ(read(parent, kBase + p * kPage), pattern(p));
  EXPECT_EQ(read(*child, kBase), 5u);
  EXPECT_EQ(parent.validate(), "");
  EXPECT_EQ(child->validate(), "");
  child.reset();
  EXPECT_EQ(parent.validate(), "");
  parent.reset();
}

// The model test with FORK: random steps on a family that forks every
// 25 steps (the model copies its state), each step on the parent or one
// of the living children, reclaim between some, and every space compared
// with its own model after every step.
TEST_P(ForkModes, ModelWithForks) {
  using smm_model::Model;
  for (uint64_t seed = 1; seed <= 3; seed++) {
    std::mt19937_64 rng(seed * 977 + mode());
    std::vector<std::unique_ptr<Space>> spaces;
    std::vector<Model> models;
    spaces.push_back(std::make_unique<Space>(mode()));
    ASSERT_EQ(set_swap(*spaces[0], 4096), 0);
    const uint64_t page = spaces[0]->page_size();
    models.emplace_back(page);
    // A populated window first, so that forks have pages to share.
    smm_model::Step fill{.op = 0,
                         .addr = smm_model::kWindow,
                         .len = smm_model::kWindowPages * page,
                         .prot = SHADOWMM_PROT_READ | SHADOWMM_PROT_WRITE};
    ASSERT_EQ(smm_model::apply(*spaces[0], models[0], fill, false), "");
    for (uint64_t p = 0; p < smm_model::kWindowPages; p += 3) {
      fill = {.op = 5, .addr = smm_model::kWindow + p * page, .write = true, .value = rng()};
      ASSERT_EQ(smm_model::apply(*spaces[0], models[0], fill, false), "");
    }
    for (int i = 0; i < 400; i++) {
      if (i % 25 == 24) {
        // Fork a random member; at most four spaces live at once.
        const size_t from = rng() % spaces.size();
        auto child = spaces[from]->fork();
        ASSERT_TRUE(child) << "seed " << seed << " step " << i;
        Model child_model = models[from].fork();
        spaces.push_back(std::move(child));
        models.push_back(std::move(child_model));
        if (spaces.size() > 4) {
          const size_t gone = rng() % spaces.size();
          spaces.erase(spaces.begin() + static_cast<long>(gone));
          models.erase(models.begin() + static_cast<long>(gone));
        }
        continue;
      }
      const size_t who = rng() % spaces.size();
      smm_model::Step st = smm_model::random_step(rng, page);
      // Accesses to two words a page, so that a write one space makes
      // through a page it shares lands where the others' models look.
      if (st.op >= 5) st.addr = (st.addr & ~(page - 1)) + (rng() % 2) * 8;
      std::string diff = smm_model::apply(*spaces[who], models[who], st, false);
      ASSERT_EQ(diff, "") << "seed " << seed << " step " << i << " space " << who;
      if (i % 7 == 6) {
        shadowmm_cmd rc{.op = SHADOWMM_OP_RECLAIM, .value = 1 + rng() % 32};
        ASSERT_EQ(spaces[rng() % spaces.size()]->exec(rc), 0);
      }
      for (size_t k = 0; k < spaces.size(); k++)
        ASSERT_EQ(compare(*spaces[k], models[k], spaces.size() == 1), "")
            << "seed " << seed << " step " << i << " space " << k << " of " << spaces.size();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fork, ForkModes,
                         ::testing::Values(SHADOWMM_MODE_CLASSIC, SHADOWMM_MODE_SPF,
                                           SHADOWMM_MODE_VMALOCK, SHADOWMM_MODE_MMSEQ),
                         [](const auto& info) { return std::string(mode_name(info.param)); });

class Fork : public CoreTest {};

// A fork that fails at any allocation leaves the parent's memory and
// VMAs as they were, and nothing allocated.
TEST_F(Fork, FailNthLeavesTheParent) {
  Space parent(SHADOWMM_MODE_VMALOCK);
  ASSERT_EQ(set_swap(parent, 16), 0);
  ASSERT_EQ(parent.map(kBase, kPages * kPage, kRW), 0);
  ASSERT_EQ(parent.map(kBase + kTableSpan, kPages * kPage, kRO), 0);
  ASSERT_EQ(parent.map(kBase + 3 * kTableSpan, kPages * kPage, kRW), 0);
  fill(parent, kBase, kPages);
  fill(parent, kBase + 3 * kTableSpan, kPages);
  shadowmm_cmd rc{.op = SHADOWMM_OP_RECLAIM, .addr = kBase, .len = 2 * kPage};
  ASSERT_EQ(parent.exec(rc), 0);
  const auto vmas = parent.vmas();
  const uint64_t base_pages = parent.stats().pages_live;
  rcu_barrier();
  const long baseline = smm_shim_allocs_live(-1);
  long nth;
  for (nth = 1; nth < 1000; nth++) {
    smm_shim_fail_nth(nth);
    int err = 0;
    auto child = parent.fork(&err);
    const bool reached = smm_shim_fail_nth_pending() == 0;
    smm_shim_fail_nth(0);
    if (child) {
      EXPECT_EQ(child->validate(), "");
      child.reset();
    } else {
      EXPECT_EQ(err, -ENOMEM);
    }
    rcu_barrier();
    EXPECT_EQ(smm_shim_allocs_live(-1), baseline) << "fail-nth " << nth;
    EXPECT_EQ(parent.stats().pages_live, base_pages) << "fail-nth " << nth;
    EXPECT_EQ(parent.vmas().size(), vmas.size());
    for (int p = 0; p < kPages; p++) {
      ASSERT_EQ(parent.peek(kBase + p * kPage), pattern(p)) << "fail-nth " << nth;
      ASSERT_EQ(parent.peek(kBase + 3 * kTableSpan + p * kPage), pattern(p));
    }
    ASSERT_EQ(parent.validate(), "") << "fail-nth " << nth;
    if (!reached) break;
  }
  EXPECT_GT(nth, 10) << "a fork of three VMAs allocates more than that";
  EXPECT_LT(nth, 1000);
}

// A COW copy that cannot get its page (the family's budget is full, with
// no swap) fails the write with -ENOMEM in every path, and both sides
// keep what they had.
TEST_P(ForkModes, CowCopyFailureChangesNothing) {
  Space parent(mode());
  shadowmm_memory full{.max_pages = kPages};
  ASSERT_EQ(smm_set_memory(parent.get(), &full), 0);
  ASSERT_EQ(parent.map(kBase, kPages * kPage, kRW), 0);
  fill(parent, kBase, kPages);
  auto child = parent.fork();
  ASSERT_TRUE(child);
  EXPECT_EQ(child->fault(kBase, true, 1), -ENOMEM);
  EXPECT_EQ(parent.fault(kBase, true, 1), -ENOMEM);
  shadowmm_memory unlimited{};
  ASSERT_EQ(smm_set_memory(parent.get(), &unlimited), 0);
  EXPECT_EQ(read(*child, kBase), pattern(0));
  EXPECT_EQ(read(parent, kBase), pattern(0));
  EXPECT_EQ(child->fault(kBase, true, 1), 0);
  EXPECT_EQ(read(parent, kBase), pattern(0));
  EXPECT_EQ(child->validate(), "");
  EXPECT_EQ(parent.validate(), "");
}

// A family shares one geometry; a child starts with its parent's policies.
TEST_F(Fork, GeometryAndPolicies) {
  Space parent(SHADOWMM_MODE_SPF);
  ASSERT_EQ(smm_set_swap_policy(parent.get(), SHADOWMM_SWAP_VMA_RETRY), 0);
  ASSERT_EQ(smm_set_anon_policy(parent.get(), SHADOWMM_ANON_FALLBACK), 0);
  auto child = parent.fork();
  ASSERT_TRUE(child);
  EXPECT_EQ(smm_get_mode(child->get()), unsigned{SHADOWMM_MODE_SPF});
  EXPECT_EQ(child->info().swap_policy, uint64_t{SHADOWMM_SWAP_VMA_RETRY});
  EXPECT_EQ(child->info().anon_policy, uint64_t{SHADOWMM_ANON_FALLBACK});
  EXPECT_EQ(child->info().geometry, uint64_t{SHADOWMM_GEOM_4K});
  EXPECT_EQ(smm_set_geometry(child->get(), SHADOWMM_GEOM_64K), -EBUSY);
  EXPECT_EQ(smm_set_geometry(parent.get(), SHADOWMM_GEOM_64K), -EBUSY);
  child.reset();
  EXPECT_EQ(smm_set_geometry(parent.get(), SHADOWMM_GEOM_64K), 0);
}

// Writers race forks under every injected window, in every mode: each
// child holds a prefix of every writer's writes.
TEST_F(Fork, SnapshotsUnderRacingWriters) {
  for (unsigned mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    Space parent(mode);
    smm_set_race_injection((1UL << SMM_NR_RACE_WINDOWS) - 1);
    auto r = fork_snapshot_stress(parent, kBase, 2, 4, stress_ms(600));
    smm_set_race_injection(0);
    EXPECT_EQ(r.broken, "") << mode_name(mode);
    EXPECT_GT(r.forks, 3u) << mode_name(mode);
    EXPECT_GT(r.rounds, 3u) << mode_name(mode);
    EXPECT_GT(parent.counter(SHADOWMM_EV_COW_FAULT), 0u) << mode_name(mode);
    EXPECT_EQ(parent.validate(), "") << mode_name(mode);
  }
}

}  // namespace
}  // namespace smm_test
