// SPDX-License-Identifier: GPL-2.0
//
// The module's other surfaces: the debugfs files next to ctl, the module
// parameters, and the module reference an open space holds.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

extern "C" {
#include "smm_api.h"  // SMM_NR_RACE_WINDOWS: the inject file's bits
}

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;

const char* const kModeNames[] = {"classic", "spf", "vmalock", "mmseq"};
static_assert(sizeof(kModeNames) / sizeof(kModeNames[0]) == SHADOWMM_NR_MODES);

std::vector<std::string> CounterNames() {
#define SMM_NAME(name, str) str,
  return {SHADOWMM_COUNTERS(SMM_NAME)};
#undef SMM_NAME
}

void FilesPresent() {
  struct stat st;
  ASSERT_TRUE(stat(DebugfsDir().c_str(), &st) == 0 && S_ISDIR(st.st_mode));
  for (const char* name : {"ctl", "stats", "mode", "geometry", "inject", "bugs"}) {
    const std::string path = DebugfsFile(name);
    if (stat(path.c_str(), &st) != 0) {
      SMM_FAIL(false, path + ": " + ErrName(errno));
      continue;
    }
    EXPECT_TRUE(S_ISREG(st.st_mode));
    if ((st.st_mode & 07777) != 0600)
      SMM_FAIL(false, path + ": mode " + Show(st.st_mode & 07777) + ", expected 0600 (384)");
    EXPECT_EQ(st.st_uid, 0u);
  }
}

void StatsFormat() {
  const GlobalStats st = ReadGlobalStats();
  std::vector<std::string> want = {"default_mode", "mms_live", "vmas_live", "tables_live",
                                   "pages_live"};
  for (const std::string& n : CounterNames()) want.push_back(n);
  want.push_back("validate_runs");
  want.push_back("validate_failed");
  EXPECT_EQ(st.order.size(), want.size());
  for (size_t i = 0; i < want.size() && i < st.order.size(); i++)
    if (st.order[i] != want[i])
      SMM_FAIL(false, "stats line " + std::to_string(i + 1) + " is '" + st.order[i] +
                          "', expected '" + want[i] + "'");
  bool known = false;
  for (const char* m : kModeNames) known |= st.lines.at("default_mode") == m;
  EXPECT_TRUE(known);
  for (size_t i = 1; i < want.size(); i++) (void)st[want[i]];  // numbers
  EXPECT_EQ(st["validate_failed"], 0u);
}

void StatsRetired() {
  const GlobalStats before = ReadGlobalStats();
  {
    Space s;
    ASSERT_OK(s.MapFixed(kBase, 4 * P));
    ASSERT_OK(s.Touch(kBase, 4 * P, P, true, 1));
    const GlobalStats open = ReadGlobalStats();
    EXPECT_GE(open["mms_live"], before["mms_live"] + 1);
    EXPECT_GE(open["fault"], before["fault"] + 4);
    EXPECT_GE(open["pages_live"], 4u);
  }
  const GlobalStats after = ReadGlobalStats();
  // The counters of a closed space stay in the totals; its gauges go.
  EXPECT_GE(after["fault"], before["fault"] + 4);
  EXPECT_GE(after["mm_create"], before["mm_create"] + 1);
  EXPECT_GE(after["mm_destroy"], before["mm_destroy"] + 1);
  EXPECT_GE(after["page_free"], before["page_free"] + 4);
  EXPECT_EQ(after["mms_live"], before["mms_live"]);
  EXPECT_EQ(after["pages_live"], before["pages_live"]);
  EXPECT_EQ(after["vmas_live"], before["vmas_live"]);
  EXPECT_EQ(after["tables_live"], before["tables_live"]);
}

// Shows a written value with its NULs and newlines, for failure messages.
std::string Printable(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '\0' ? "\\0" : c == '\n' ? "\\n" : std::string(1, c);
  return out;
}

// Writes a mask file must refuse whole: @unknown is a bit it lacks.
std::vector<std::string> BadNumbers(const std::string& unknown) {
  return {unknown,
          "0xffffffffffffffff",
          "-1",
          "abc",
          "",
          "99999999999999999999",
          "1x",
          "0x1 ",
          "1\n\n",
          std::string("1\0", 2),
          std::string("1\0xyz", 5),
          "000000000000000000000000000001"};
}

void ModeFile() {
  const std::string mode = DebugfsFile("mode");
  SettingGuard keep(mode, "spf");
  EXPECT_EQ(ReadLine(mode), "spf");
  EXPECT_EQ(ReadGlobalStats().lines.at("default_mode"), "spf");
  EXPECT_EQ(ReadLine(ParamFile("default_mode")), "spf");
  for (uint64_t m = 0; m < SHADOWMM_NR_MODES; m++) {
    ASSERT_OK(WriteFile(mode, std::string(kModeNames[m]) + "\n"));
    EXPECT_EQ(ReadLine(mode), kModeNames[m]);
    Space s;
    EXPECT_EQ(s.Stats().mode, m);
  }
  for (const std::string& bad :
       {std::string(""), std::string("\n"), std::string("bogus"), std::string("SPF"),
        std::string(" spf"), std::string("spf spf"), std::string("4"),
        std::string("classicclassic"), std::string("averyveryveryverylongmodename"),
        std::string("spf\0xyz", 7), std::string("spf\0", 4), std::string("spf\n\n")}) {
    int err = WriteFile(mode, bad);
    if (err != EINVAL)
      SMM_FAIL(false, "mode '" + Printable(bad) + "': " + ErrName(err) + ", expected EINVAL");
  }
  EXPECT_EQ(ReadLine(mode), "mmseq");
  // The module parameter is the same setting.
  ASSERT_OK(WriteFile(ParamFile("default_mode"), "vmalock"));
  EXPECT_EQ(ReadLine(mode), "vmalock");
  EXPECT_ERR(WriteFile(ParamFile("default_mode"), "nope"), EINVAL);
  EXPECT_EQ(ReadLine(ParamFile("default_mode")), "vmalock");
  // A space keeps the mode it was opened with.
  Space s;
  ASSERT_OK(WriteFile(mode, "classic"));
  EXPECT_EQ(s.Stats().mode, uint64_t{SHADOWMM_MODE_VMALOCK});
}

void GeometryFile() {
  const std::string geometry = DebugfsFile("geometry");
  SettingGuard keep(geometry, "host");
  EXPECT_EQ(ReadLine(geometry), "host");
  EXPECT_EQ(ReadLine(ParamFile("default_geometry")), "host");
  for (const char* name : {"4k", "64k"}) {
    ASSERT_OK(WriteFile(geometry, std::string(name) + "\n"));
    EXPECT_EQ(ReadLine(geometry), name);
    Space s;
    EXPECT_EQ(s.Info().page_size, std::string(name) == "4k" ? 4096u : 65536u);
  }
  for (const std::string& bad : {std::string(""), std::string("16k"), std::string("4K"),
                                 std::string("64k\0", 4), std::string("2")}) {
    int err = WriteFile(geometry, bad);
    if (err != EINVAL)
      SMM_FAIL(false, "geometry '" + Printable(bad) + "': " + ErrName(err) + ", expected EINVAL");
  }
  EXPECT_EQ(ReadLine(geometry), "64k");
  EXPECT_ERR(WriteFile(ParamFile("default_geometry"), "nope"), EINVAL);
}

void InjectFile() {
  const std::string inject = DebugfsFile("inject");
  SettingGuard keep(inject, "0");
  EXPECT_EQ(ReadLine(inject), "0x00");
  const uint64_t all = (1UL << SMM_NR_RACE_WINDOWS) - 1;
  char want[8];
  std::snprintf(want, sizeof(want), "0x%02llx", static_cast<unsigned long long>(all));
  ASSERT_OK(WriteFile(inject, std::to_string(all)));
  EXPECT_EQ(ReadLine(inject), want);
  ASSERT_OK(WriteFile(inject, "5\n"));
  EXPECT_EQ(ReadLine(inject), "0x05");
  for (const std::string& bad : BadNumbers(std::to_string(all + 1))) {
    int err = WriteFile(inject, bad);
    if (err != EINVAL && err != ERANGE)
      SMM_FAIL(false, "inject '" + Printable(bad) + "': " + ErrName(err) + ", expected EINVAL");
  }
  EXPECT_EQ(ReadLine(inject), "0x05");
  // Faults still work with every window widened.
  ASSERT_OK(WriteFile(inject, std::to_string(all)));
  for (uint64_t m = 0; m < SHADOWMM_NR_MODES; m++) {
    Space s;
    ASSERT_OK(s.SetMode(m));
    ASSERT_OK(s.MapFixed(kBase, 4 * P));
    EXPECT_OK(s.Touch(kBase, 4 * P, P, true, m));
    EXPECT_OK(s.Protect(kBase, 2 * P, kRO));
    uint64_t v = 9;
    EXPECT_OK(s.Load(kBase + P, &v));
    EXPECT_EQ(v, m);
  }
}

// The known-bugs mask: what it takes, and that a knob really changes the
// module (vma_seq_relaxed is invisible on x86 without a sanitizer, so this
// checks the mask and that faults still work with every knob on).
void BugsFile() {
  const std::string bugs = DebugfsFile("bugs");
  SettingGuard keep(bugs, "0");
  EXPECT_EQ(ReadLine(bugs), "0x00");
  const uint64_t all = SHADOWMM_BUGS_MASK;
  ASSERT_OK(WriteFile(bugs, std::to_string(all) + "\n"));
  char want[16];
  snprintf(want, sizeof(want), "0x%02llx", static_cast<unsigned long long>(all));
  EXPECT_EQ(ReadLine(bugs), want);
  char unknown[24];
  snprintf(unknown, sizeof(unknown), "0x%llx", static_cast<unsigned long long>(all + 1));
  for (const std::string& bad : BadNumbers(unknown)) {
    int err = WriteFile(bugs, bad);
    if (err != EINVAL && err != ERANGE)
      SMM_FAIL(false, "bugs '" + Printable(bad) + "': " + ErrName(err) + ", expected EINVAL");
  }
  EXPECT_EQ(ReadLine(bugs), want);
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_VMALOCK));
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  EXPECT_OK(s.Touch(kBase, 4 * P, P, true, 7));
  uint64_t v = 0;
  EXPECT_OK(s.Load(kBase + 3 * P, &v));
  EXPECT_EQ(v, 7u);
  ASSERT_OK(WriteFile(bugs, "0"));
  EXPECT_EQ(ReadLine(bugs), "0x00");
}

void ParamsPerSpace() {
  for (const char* name : {"max_pages", "max_vmas"}) {
    const std::string v = ReadLine(ParamFile(name));
    EXPECT_TRUE(!v.empty() && v.find_first_not_of("0123456789") == std::string::npos);
  }
  const std::string validate = ReadLine(ParamFile("validate_on_release"));
  EXPECT_TRUE(validate == "Y" || validate == "N");
  Space before;
  SettingGuard limit(ParamFile("max_vmas"), "2");
  EXPECT_EQ(ReadLine(ParamFile("max_vmas")), "2");
  EXPECT_ERR(WriteFile(ParamFile("max_vmas"), "lots"), EINVAL);
  Space after;
  for (uint64_t i = 0; i < 3; i++) {
    EXPECT_OK(before.MapFixed(kBase + 2 * i * P, P));
    EXPECT_ERR(after.MapFixed(kBase + 2 * i * P, P), i < 2 ? 0 : ENOMEM);
  }
}

void RefcountAndRmmod() {
  const long base = ModuleRefcnt();
  if (base < 0) SKIP("no /sys/module/shadowmm/refcnt (built in, or no MODULE_UNLOAD)");
  bool pinned = true;
  {
    Space a;
    EXPECT_EQ(ModuleRefcnt(), base + 1);
    pinned &= ModuleRefcnt() == base + 1;
    {
      Space b;
      EXPECT_EQ(ModuleRefcnt(), base + 2);
    }
    EXPECT_EQ(ModuleRefcnt(), base + 1);
    // Only when the reference is visibly there: a module that does not
    // take one would really go away here.
    if (pinned) {
      long ret = syscall(SYS_delete_module, ModuleName(), O_NONBLOCK);
      int err = errno;
      EXPECT_EQ(ret, -1);
      if (ret == -1 && err != EWOULDBLOCK && err != EBUSY)
        SMM_FAIL(false, "delete_module: " + ErrName(err) + ", expected EWOULDBLOCK");
      // Still fully usable.
      EXPECT_OK(a.MapFixed(kBase, P));
      EXPECT_OK(a.Store(kBase, 1));
    }
  }
  EXPECT_EQ(ModuleRefcnt(), base);
}

}  // namespace

void AddFileTests(Tap& tap) {
  tap.Add("debugfs: ctl, stats, mode, geometry, inject, bugs are there, mode 0600", FilesPresent);
  tap.Add("stats: a 'name value' line per gauge and counter, in uapi order", StatsFormat);
  tap.Add("stats: closed spaces stay in the counters, leave the gauges", StatsRetired);
  tap.Add("mode: set and read back; bad names EINVAL; = default_mode param", ModeFile);
  tap.Add("geometry: new spaces' page size; bad names EINVAL", GeometryFile);
  tap.Add("inject: the race-window mask; unknown bits EINVAL; faults work", InjectFile);
  tap.Add("bugs: the known-bugs mask; unknown bits and garbage EINVAL", BugsFile);
  tap.Add("params: read when a space opens; bad values EINVAL", ParamsPerSpace);
  tap.Add("module: each open space holds a reference; rmmod refused", RefcountAndRmmod);
}

}  // namespace shadowmm::selftest
