// SPDX-License-Identifier: GPL-2.0
#include "tap.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>

namespace shadowmm::selftest {
namespace {

std::mutex out_lock;
std::atomic<bool> current_failed{false};

// One line at a time, flushed: the console interleaves kernel messages,
// and the VM runner counts results by line.
void Line(const std::string& s) {
  std::lock_guard<std::mutex> g(out_lock);
  std::fputs(s.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace

std::string ErrName(int err) {
  if (err == 0) return "0";
  const char* name = strerrorname_np(err);
  return name ? name : "errno " + std::to_string(err);
}

void Tap::Fail(const char* file, int line, const std::string& what) {
  current_failed = true;
  const char* base = std::strrchr(file, '/');
  Line("#   " + std::string(base ? base + 1 : file) + ":" + std::to_string(line) + ": " + what);
}

void Tap::Diag(const std::string& msg) { Line("# " + msg); }

void Tap::List() const {
  for (const Test& t : tests_) Line(t.name);
}

int Tap::Run(const std::string& filter) {
  std::vector<const Test*> run;
  for (const Test& t : tests_)
    if (filter.empty() || t.name.find(filter) != std::string::npos) run.push_back(&t);
  Line("1.." + std::to_string(run.size()));
  int failed = 0, n = 0;
  for (const Test* t : run) {
    std::string skip;
    current_failed = false;
    const auto start = std::chrono::steady_clock::now();
    try {
      t->fn();
    } catch (const TestAbort&) {
      current_failed = true;
    } catch (const TestSkip& s) {
      skip = s.reason;
    } catch (const std::exception& e) {
      Fail("tap.cc", 0, std::string("exception: ") + e.what());
    }
    ++n;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (secs >= 1) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "# %.1f s", secs);
      Line(buf);
    }
    if (current_failed) {
      ++failed;
      Line("not ok " + std::to_string(n) + " - " + t->name);
    } else if (!skip.empty()) {
      Line("ok " + std::to_string(n) + " - " + t->name + " # SKIP " + skip);
    } else {
      Line("ok " + std::to_string(n) + " - " + t->name);
    }
  }
  Line("# " + std::to_string(n - failed) + " passed, " + std::to_string(failed) + " failed");
  return failed;
}

}  // namespace shadowmm::selftest
