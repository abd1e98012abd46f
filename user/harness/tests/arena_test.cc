// SPDX-License-Identifier: GPL-2.0
#include "arena.h"

#include <gtest/gtest.h>

#include "backend.h"

namespace shadowmm {
namespace {

// The arenas are given their page size; the 4K geometry's here.
constexpr uint64_t kPage = SHADOWMM_PAGE_SIZE_MIN;

TEST(Arena, FirstFitFromTheBottomAndReuse) {
  AddressArenas arenas(3, kPage);
  const uint64_t a1 = arenas.Start(1);
  EXPECT_EQ(arenas.Alloc(1, kPage), a1);
  EXPECT_EQ(arenas.Alloc(1, 3 * kPage), a1 + kPage);
  EXPECT_EQ(arenas.Alloc(1, 1), a1 + 4 * kPage);  // rounded up to a page
  arenas.Free(a1 + kPage, 3 * kPage);
  // The freed range comes straight back, as mmap() would hand it out.
  EXPECT_EQ(arenas.Alloc(1, 2 * kPage), a1 + kPage);
  EXPECT_EQ(arenas.Alloc(1, 2 * kPage), a1 + 5 * kPage);
  EXPECT_EQ(arenas.Alloc(1, kPage), a1 + 3 * kPage);
}

TEST(Arena, Layouts) {
  EXPECT_EQ(AddressArenas(3, kPage).layout(), Layout::kPerThread);
  EXPECT_EQ(AddressArenas(3, kPage, Layout::kShared).layout(), Layout::kShared);
  EXPECT_EQ(ParseLayout(LayoutName(Layout::kShared)), Layout::kShared);
  EXPECT_EQ(ParseLayout(LayoutName(Layout::kPerThread)), Layout::kPerThread);
  EXPECT_FALSE(ParseLayout("tiled").has_value());
}

TEST(Arena, ArenasAreDisjointAndIndependent) {
  AddressArenas arenas(3, kPage);
  EXPECT_EQ(arenas.Alloc(0, kPage), AddressArenas::kBase);
  EXPECT_EQ(arenas.Alloc(2, kPage), AddressArenas::kBase + 2 * AddressArenas::kArenaSize);
  EXPECT_GE(arenas.Start(2) + AddressArenas::kArenaSize, arenas.Start(2));
  EXPECT_LE(arenas.Start(arenas.count() - 1) + AddressArenas::kArenaSize, SHADOWMM_TASK_SIZE);
}

TEST(Arena, PartialFreeAndCoalescing) {
  AddressArenas arenas(1, kPage);
  uint64_t a = arenas.Alloc(0, 8 * kPage);
  arenas.Free(a + 2 * kPage, kPage);  // a hole in the middle
  EXPECT_EQ(arenas.Alloc(0, kPage), a + 2 * kPage);
  arenas.Free(a, 8 * kPage);
  // Everything coalesced: the whole arena is one range again.
  EXPECT_EQ(arenas.Alloc(0, AddressArenas::kArenaSize), a);
}

TEST(Arena, RefusesBadRequests) {
  AddressArenas arenas(2, kPage);
  uint64_t a = arenas.Alloc(0, kPage);
  arenas.Free(a, kPage);
  EXPECT_THROW(arenas.Free(a, kPage), Error);                            // double free
  EXPECT_THROW(arenas.Free(0x10000, kPage), Error);                      // below the arenas
  EXPECT_THROW(arenas.Free(arenas.Start(1) - kPage, 2 * kPage), Error);  // straddles two
  EXPECT_THROW(arenas.Alloc(5, kPage), Error);
  EXPECT_THROW(arenas.Alloc(1, AddressArenas::kArenaSize + kPage), Error);
  EXPECT_THROW(AddressArenas(0, kPage), Error);
  EXPECT_THROW(AddressArenas(AddressArenas::MaxArenas() + 1, kPage), Error);
}

}  // namespace
}  // namespace shadowmm
