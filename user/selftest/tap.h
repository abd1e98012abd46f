// SPDX-License-Identifier: GPL-2.0
//
// A small TAP producer for the module selftest: tests register in a fixed
// order, run one after another, and each prints "ok N - name" or
// "not ok N - name" after its diagnostics ("# ..." lines).  EXPECT_* record
// a failure and go on; ASSERT_* end the test.  Checks may be made from
// worker threads of a test.
#ifndef SHADOWMM_SELFTEST_TAP_H_
#define SHADOWMM_SELFTEST_TAP_H_

#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace shadowmm::selftest {

// Thrown by ASSERT_*: ends the current test, which has failed.
struct TestAbort {};
// Thrown by SKIP(): ends the current test as "ok N - name # SKIP reason".
struct TestSkip {
  std::string reason;
};

// "ENOMEM" for ENOMEM, "0" for 0.
std::string ErrName(int err);

class Tap {
 public:
  using TestFn = std::function<void()>;

  void Add(std::string name, TestFn fn) { tests_.push_back({std::move(name), std::move(fn)}); }
  // Runs the tests whose name contains @filter (all if empty) and prints
  // the plan first; returns how many failed.
  int Run(const std::string& filter);
  void List() const;

  // Records a failure of the running test, with a diagnostic line.
  static void Fail(const char* file, int line, const std::string& what);
  // A "# ..." line, safe from any thread.
  static void Diag(const std::string& msg);

 private:
  struct Test {
    std::string name;
    TestFn fn;
  };
  std::vector<Test> tests_;
};

template <typename T>
std::string Show(const T& v) {
  std::ostringstream os;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    bool big;
    if constexpr (std::is_signed_v<T>)
      big = v > 4096 || v < -4096;
    else
      big = v > 4096u;
    if (big)
      os << "0x" << std::hex << static_cast<uint64_t>(v);
    else
      os << +v;
  } else {
    os << v;
  }
  return os.str();
}

}  // namespace shadowmm::selftest

#define SMM_FAIL(fatal, what)                                    \
  do {                                                           \
    ::shadowmm::selftest::Tap::Fail(__FILE__, __LINE__, (what)); \
    if (fatal) throw ::shadowmm::selftest::TestAbort{};          \
  } while (0)

#define SMM_CHECK_TRUE(fatal, cond)                  \
  do {                                               \
    if (!(cond)) SMM_FAIL(fatal, "expected " #cond); \
  } while (0)

#define SMM_CHECK_OP(fatal, a, op, b)                                   \
  do {                                                                  \
    const auto smm_a_ = (a);                                            \
    const auto smm_b_ = (b);                                            \
    if (!(smm_a_ op smm_b_))                                            \
      SMM_FAIL(fatal, std::string("expected " #a " " #op " " #b ": ") + \
                          ::shadowmm::selftest::Show(smm_a_) + " vs " + \
                          ::shadowmm::selftest::Show(smm_b_));          \
  } while (0)

// @expr returns 0 or an errno value, as the Space calls do.
#define SMM_CHECK_ERR(fatal, expr, err)                                                         \
  do {                                                                                          \
    const int smm_e_ = (expr);                                                                  \
    if (smm_e_ != (err))                                                                        \
      SMM_FAIL(fatal, std::string(#expr " returned ") + ::shadowmm::selftest::ErrName(smm_e_) + \
                          ", expected " + ::shadowmm::selftest::ErrName(err));                  \
  } while (0)

#define EXPECT_TRUE(c) SMM_CHECK_TRUE(false, c)
#define ASSERT_TRUE(c) SMM_CHECK_TRUE(true, c)
#define EXPECT_EQ(a, b) SMM_CHECK_OP(false, a, ==, b)
#define ASSERT_EQ(a, b) SMM_CHECK_OP(true, a, ==, b)
#define EXPECT_NE(a, b) SMM_CHECK_OP(false, a, !=, b)
#define EXPECT_GE(a, b) SMM_CHECK_OP(false, a, >=, b)
#define EXPECT_LE(a, b) SMM_CHECK_OP(false, a, <=, b)
#define EXPECT_GT(a, b) SMM_CHECK_OP(false, a, >, b)
#define EXPECT_OK(expr) SMM_CHECK_ERR(false, expr, 0)
#define ASSERT_OK(expr) SMM_CHECK_ERR(true, expr, 0)
#define EXPECT_ERR(expr, err) SMM_CHECK_ERR(false, expr, err)
#define SKIP(reason) \
  throw ::shadowmm::selftest::TestSkip { reason }

#endif  // SHADOWMM_SELFTEST_TAP_H_
