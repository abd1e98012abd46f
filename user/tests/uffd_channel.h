// SPDX-License-Identifier: GPL-2.0
// A space's userfault channel for the core's tests (test_uffd.cc, the
// model test's resolver): smm_uffd_open(), closed (smm_uffd_release())
// when it goes out of scope.
#pragma once

#include <vector>

#include "smm_test.h"

namespace smm_test {

class Channel {
 public:
  explicit Channel(const Space& s) { open_result_ = smm_uffd_open(s.get(), &ctx_); }
  ~Channel() { close(); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  int open_result() const { return open_result_; }
  void close() {
    if (ctx_) smm_uffd_release(ctx_);
    ctx_ = nullptr;
  }
  // Up to @n events; blocks for the first unless @nonblock, up to
  // @timeout_ms (negative: for ever).
  long read(std::vector<shadowmm_uffd_msg>& out, size_t n, bool nonblock, long timeout_ms = -1) {
    out.resize(n);
    long got = smm_uffd_read(ctx_, out.data(), n, nonblock ? 0 : timeout_ms);
    out.resize(got > 0 ? static_cast<size_t>(got) : 0);
    return got;
  }
  smm_uffd* get() const { return ctx_; }

 private:
  smm_uffd* ctx_ = nullptr;
  int open_result_ = 0;
};

}  // namespace smm_test
