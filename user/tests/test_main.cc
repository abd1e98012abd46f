// SPDX-License-Identifier: GPL-2.0
// Entry point of the core's tests: module-wide init once, as insmod does.
#include <cstdlib>

#include "smm_test.h"

namespace smm_test {
int stress_ms(int fallback) {
  const char* env = std::getenv("SMM_STRESS_MS");
  return env ? std::atoi(env) : fallback;
}
}  // namespace smm_test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (smm_core_init()) {
    fprintf(stderr, "smm_core_init failed\n");
    return 1;
  }
  int ret = RUN_ALL_TESTS();
  smm_core_exit();
  return ret;
}
