// SPDX-License-Identifier: GPL-2.0
// Geometries: what GET_INFO reports, SET_GEOMETRY's rules, and that memory
// charged is memory used in every page size (the budget in the space's
// pages, the shim's live bytes equal to the pages and tables counted).
#include <unistd.h>

#include "smm_test.h"

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x40000000;
constexpr uint64_t k64K = 1ULL << 16;

class Geometry : public CoreTest {
 protected:
  void TearDown() override {
    smm_shim_set_host_page_shift(0);
    CoreTest::TearDown();
  }
};

TEST_F(Geometry, InfoDescribesEachGeometry) {
  Space s4(SHADOWMM_MODE_CLASSIC, {}, SHADOWMM_GEOM_4K);
  shadowmm_info i = s4.info();
  EXPECT_EQ(i.geometry, SHADOWMM_GEOM_4K);
  EXPECT_EQ(i.page_shift, 12u);
  EXPECT_EQ(i.page_size, 4096u);
  EXPECT_EQ(i.pt_levels, 4u);
  for (int l = 0; l < 4; l++) EXPECT_EQ(i.pt_bits[l], 9u) << "level " << l;
  EXPECT_EQ(i.task_size, SHADOWMM_TASK_SIZE);
  EXPECT_EQ(i.mmap_min_addr, SHADOWMM_MMAP_MIN_ADDR);
  EXPECT_EQ(i.host_page_size, uint64_t(sysconf(_SC_PAGESIZE)));

  Space s64(SHADOWMM_MODE_CLASSIC, {}, SHADOWMM_GEOM_64K);
  i = s64.info();
  EXPECT_EQ(i.geometry, SHADOWMM_GEOM_64K);
  EXPECT_EQ(i.page_shift, 16u);
  EXPECT_EQ(i.page_size, k64K);
  EXPECT_EQ(i.pt_bits[0], 13u);
  EXPECT_EQ(i.pt_bits[1], 9u);
  EXPECT_EQ(i.pt_bits[2], 9u);
  EXPECT_EQ(i.pt_bits[3], 5u);
  // Both cover the task size.
  EXPECT_GE(i.page_shift + 13 + 9 + 9 + 5, 47u);
}

TEST_F(Geometry, HostResolvesToTheHostsPageSize) {
  Space s(SHADOWMM_MODE_CLASSIC, {}, SHADOWMM_GEOM_HOST);
  EXPECT_EQ(s.info().page_size, uint64_t(sysconf(_SC_PAGESIZE)) == k64K ? k64K : 4096u);
  smm_shim_set_host_page_shift(16);
  Space ppc(SHADOWMM_MODE_CLASSIC, {}, SHADOWMM_GEOM_HOST);
  EXPECT_EQ(ppc.info().geometry, SHADOWMM_GEOM_64K);
  EXPECT_EQ(ppc.info().host_page_size, k64K);
  smm_shim_set_host_page_shift(12);
  Space x86(SHADOWMM_MODE_CLASSIC, {}, SHADOWMM_GEOM_HOST);
  EXPECT_EQ(x86.info().geometry, SHADOWMM_GEOM_4K);
}

TEST_F(Geometry, NamesParse) {
  EXPECT_STREQ(smm_geometry_name(SHADOWMM_GEOM_HOST), "host");
  EXPECT_STREQ(smm_geometry_name(SHADOWMM_GEOM_64K), "64k");
  EXPECT_EQ(smm_geometry_name(SHADOWMM_NR_GEOMS), nullptr);
  EXPECT_EQ(smm_geometry_parse("4k\n"), SHADOWMM_GEOM_4K);
  EXPECT_EQ(smm_geometry_parse("16k"), -EINVAL);
}

TEST_F(Geometry, SetOnlyOnAnEmptySpace) {
  Space s;
  shadowmm_cmd bad{.op = SHADOWMM_OP_SET_GEOMETRY, .value = SHADOWMM_NR_GEOMS};
  EXPECT_EQ(s.exec(bad), -EINVAL);
  bad.value = 1ULL << 32 | SHADOWMM_GEOM_64K;  // all 64 bits checked
  EXPECT_EQ(s.exec(bad), -EINVAL);
  shadowmm_cmd flags{.op = SHADOWMM_OP_SET_GEOMETRY, .flags = 1, .value = SHADOWMM_GEOM_64K};
  EXPECT_EQ(s.exec(flags), -EINVAL);
  EXPECT_EQ(s.page_size(), 4096u);

  ASSERT_EQ(s.map(kBase, 4096, kRW), 0);
  shadowmm_cmd set{.op = SHADOWMM_OP_SET_GEOMETRY, .value = SHADOWMM_GEOM_64K};
  EXPECT_EQ(s.exec(set), -EBUSY);
  EXPECT_EQ(s.page_size(), 4096u);
  ASSERT_EQ(s.fault(kBase, true, 7), 0);
  ASSERT_EQ(s.unmap(kBase, 4096), 0);
  // Empty again: every table below the PGD is gone with the last VMA.
  ASSERT_EQ(s.exec(set), 0);
  EXPECT_EQ(s.page_size(), k64K);
  EXPECT_EQ(s.stats().tables_live, 1u);
  EXPECT_EQ(s.validate(), "");

  // The new page size rules every range from now on.
  EXPECT_EQ(s.map(kBase, 4096, kRW), -EINVAL);
  EXPECT_EQ(s.map(kBase + 4096, k64K, kRW), -EINVAL);
  ASSERT_EQ(s.map(kBase, 2 * k64K, kRW), 0);
  EXPECT_EQ(s.unmap(kBase, 4096), -EINVAL);
  EXPECT_EQ(s.protect(kBase, 4096, kRO), -EINVAL);
  EXPECT_EQ(s.zap(kBase, 4096), -EINVAL);
  uint64_t v = 0;
  bool faulted = false;
  ASSERT_EQ(s.fault(kBase + k64K - 8, true, 42, nullptr, &faulted), 0);
  EXPECT_TRUE(faulted);
  // The same 64 KiB page: no second fault.
  ASSERT_EQ(s.fault(kBase + 8, false, 0, &v, &faulted), 0);
  EXPECT_FALSE(faulted);
  ASSERT_EQ(s.fault(kBase + k64K - 8, false, 0, &v), 0);
  EXPECT_EQ(v, 42u);
  EXPECT_EQ(s.stats().pages_live, 1u);
  EXPECT_EQ(s.validate(), "");
}

// max_pages counts pages of the space's size: N 64 KiB pages, not N x 16.
TEST_F(Geometry, BudgetIsInTheSpacesPages) {
  for (unsigned g : {SHADOWMM_GEOM_4K, SHADOWMM_GEOM_64K}) {
    constexpr uint64_t kN = 5;
    Space s(SHADOWMM_MODE_CLASSIC, {.max_pages = kN}, g);
    const uint64_t page = s.page_size();
    EXPECT_EQ(s.map(kBase, (kN + 1) * page, kRW), -ENOMEM) << "a map longer than the budget";
    ASSERT_EQ(s.map(kBase, kN * page, kRW), 0);
    ASSERT_EQ(s.map(kBase + kN * page, page, kRW), 0);
    for (uint64_t i = 0; i < kN; i++) ASSERT_EQ(s.fault(kBase + i * page, true, i), 0) << i;
    EXPECT_EQ(s.fault(kBase + kN * page, true, 1), -ENOMEM) << "page N + 1";
    auto st = s.stats();
    EXPECT_EQ(st.pages_live, kN);
    EXPECT_EQ(st.counter[SHADOWMM_EV_PAGE_ALLOC], kN);
    EXPECT_EQ(uint64_t(smm_shim_bytes_live(SHIM_ALLOC_PAGE)), kN * page);
    ASSERT_EQ(s.zap(kBase, page), 0);
    EXPECT_EQ(s.fault(kBase + kN * page, true, 1), 0) << "room for one again";
    EXPECT_EQ(s.validate(), "");
  }
}

// What the shim holds for a space is what its counters say: pages of its
// size, and tables of entries x 8 bytes per level (no page per table).
TEST_F(Geometry, MemoryUsedIsMemoryCounted) {
  struct Case {
    unsigned geometry;
    uint64_t page, pgd, mid, pte;  // bytes of one page and of each table
  };
  for (const Case& c : {Case{SHADOWMM_GEOM_4K, 4096, 4096, 4096, 4096},
                        Case{SHADOWMM_GEOM_64K, k64K, k64K, 4096, 256}}) {
    rcu_barrier();
    const long pages0 = smm_shim_bytes_live(SHIM_ALLOC_PAGE);
    const long tables0 = smm_shim_bytes_live(SHIM_ALLOC_TABLE);
    {
      Space s(SHADOWMM_MODE_CLASSIC, {}, c.geometry);
      ASSERT_EQ(smm_shim_bytes_live(SHIM_ALLOC_TABLE) - tables0, long(c.pgd));
      // 40 pages: more than one PTE table of the 64K geometry (32 PTEs).
      ASSERT_EQ(s.map(kBase, 40 * c.page, kRW), 0);
      uint64_t faults = 0;
      ASSERT_EQ(s.touch(kBase, 40 * c.page, c.page, true, &faults), 0);
      EXPECT_EQ(faults, 40u);
      auto st = s.stats();
      EXPECT_EQ(st.pages_live, 40u);
      EXPECT_EQ(smm_shim_bytes_live(SHIM_ALLOC_PAGE) - pages0, long(40 * c.page));
      const uint64_t pte_tables = (40 + c.pte / 8 - 1) / (c.pte / 8);
      EXPECT_EQ(st.tables_live, 1 + 2 + pte_tables);
      EXPECT_EQ(smm_shim_bytes_live(SHIM_ALLOC_TABLE) - tables0,
                long(c.pgd + 2 * c.mid + pte_tables * c.pte));
      EXPECT_EQ(s.validate(), "");
    }
    rcu_barrier();
    EXPECT_EQ(smm_shim_bytes_live(SHIM_ALLOC_PAGE), pages0);
    EXPECT_EQ(smm_shim_bytes_live(SHIM_ALLOC_TABLE), tables0);
  }
}

}  // namespace
}  // namespace smm_test
