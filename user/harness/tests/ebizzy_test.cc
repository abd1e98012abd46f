// SPDX-License-Identifier: GPL-2.0
#include "ebizzy.h"

#include <gtest/gtest.h>

namespace shadowmm {
namespace {

TEST(EbizzyFlags, DefaultsAreEbizzys) {
  EbizzyOptions o;
  ASSERT_EQ(ParseEbizzyFlags("", &o), "");
  EXPECT_EQ(o.chunks, 10u);
  EXPECT_EQ(o.chunk_size, 512u * 1024);
  EXPECT_FALSE(o.always_mmap || o.touch_pages || o.random_size || o.use_permissions);
  EXPECT_FALSE(o.threads.has_value());
  EXPECT_FALSE(o.seconds.has_value());
}

TEST(EbizzyFlags, HeadlineClusterAndArguments) {
  EbizzyOptions o;
  ASSERT_EQ(ParseEbizzyFlags("-mTRp -n 20 -s0x1000 -t4 -S 3 -vv", &o), "");
  EXPECT_TRUE(o.always_mmap);
  EXPECT_TRUE(o.touch_pages);
  EXPECT_TRUE(o.random_size);
  EXPECT_TRUE(o.use_permissions);
  EXPECT_FALSE(o.use_holes);
  EXPECT_EQ(o.chunks, 20u);
  EXPECT_EQ(o.chunk_size, 4096u);
  EXPECT_EQ(o.threads, 4u);
  EXPECT_EQ(o.seconds, 3u);
  EXPECT_EQ(o.verbose, 2u);
}

TEST(EbizzyFlags, ArgumentInsideACluster) {
  EbizzyOptions o;
  ASSERT_EQ(ParseEbizzyFlags("-mn5 -P", &o), "");
  EXPECT_TRUE(o.always_mmap);
  EXPECT_EQ(o.chunks, 5u);
  EXPECT_TRUE(o.use_holes);
}

TEST(EbizzyFlags, RefusesWhatEbizzyRefuses) {
  EbizzyOptions o;
  EXPECT_NE(ParseEbizzyFlags("-x", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-n 0", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-t", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-s 4", &o), "");  // smaller than a record
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-mM", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("mTRp", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-S abc", &o), "");
}

TEST(EbizzyRng, LcgAndThe03Expression) {
  uint32_t state = 0;
  // state = 0 * a + c = 12345; 12345 / 65536 = 0.
  EXPECT_EQ(EbizzyRand(10, &state, EbizzyRng::kLcg), 0u);
  EXPECT_EQ(state, 12345u);
  uint32_t expect = 12345u * 1103515245u + 12345u;
  EXPECT_EQ(EbizzyRand(1000, &state, EbizzyRng::kLcg), (expect / 65536) % 1000);

  state = 0;
  for (int i = 0; i < 100; i++) EXPECT_EQ(EbizzyRand(10, &state, EbizzyRng::kEbizzy03), 0u);
  EXPECT_EQ(state, 0u);
  EXPECT_EQ(ParseEbizzyRng("0.3"), EbizzyRng::kEbizzy03);
  EXPECT_FALSE(ParseEbizzyRng("mt19937").has_value());
}

}  // namespace
}  // namespace shadowmm
