// SPDX-License-Identifier: GPL-2.0
#include "stock_memory.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace shadowmm {
namespace {

std::string MiB(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Writes @text to a sysfs or cgroupfs file, one write(); returns 0 or errno.
int WriteFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, text.data(), text.size());
  int err = n < 0 ? errno : (static_cast<size_t>(n) == text.size() ? 0 : EIO);
  close(fd);
  return err;
}

std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string Why(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// What a fatal signal (^C, kill) must undo before the process dies: the
// parts record it here as they are made, in buffers filled beforehand,
// and the handler undoes it with async-signal-safe calls only, then dies
// of the signal as it would have.  One StockMemory at a time.
struct SignalUndo {
  char ledger[128];      // this run's file in kLedgerDir
  char home_procs[512];  // the cgroup.procs to move back to
  char pid[24];
  char cgroup[512];  // the cgroup to remove
  char swap[256];    // the device or file to swapoff
  char zram_id[16];  // the zram device to hot_remove
  char swap_file[256];
};
SignalUndo g_undo;
std::atomic<bool> g_undo_armed{false};
constexpr int kUndoSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
struct sigaction g_old_actions[std::size(kUndoSignals)];

void Keep(char* dst, size_t size, const std::string& src) {
  std::snprintf(dst, size, "%s", src.c_str());
}

void WriteAll(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)!write(fd, text, strlen(text));
  close(fd);
}

void UndoOnSignal(int sig) {
  if (g_undo_armed.exchange(false)) {
    if (g_undo.ledger[0]) unlink(g_undo.ledger);
    if (g_undo.home_procs[0]) WriteAll(g_undo.home_procs, g_undo.pid);
    if (g_undo.cgroup[0]) {
      for (int i = 0; i < 50 && rmdir(g_undo.cgroup) != 0 && errno == EBUSY; i++) {
        timespec ts{0, 20 * 1000 * 1000};
        nanosleep(&ts, nullptr);
      }
    }
    if (g_undo.swap[0]) swapoff(g_undo.swap);
    if (g_undo.zram_id[0]) WriteAll("/sys/class/zram-control/hot_remove", g_undo.zram_id);
    if (g_undo.swap_file[0]) unlink(g_undo.swap_file);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

// What a run that could not undo its parts (SIGKILL, the OOM killer, a
// crash) leaves is in its ledger, a file per process in a tmpfs that a
// reboot empties as it empties swap and zram: the next run removes what a
// dead process left.
constexpr const char* kLedgerDir = "/run/shadowmm-bench";

// Rewrites this run's ledger from what g_undo holds now.
void SaveLedger() {
  if (!g_undo.ledger[0]) return;
  std::ofstream out(g_undo.ledger, std::ios::trunc);
  if (g_undo.cgroup[0]) out << "cgroup " << g_undo.cgroup << "\n";
  if (g_undo.swap[0]) out << "swap " << g_undo.swap << "\n";
  if (g_undo.zram_id[0]) out << "zram " << g_undo.zram_id << "\n";
  if (g_undo.swap_file[0]) out << "file " << g_undo.swap_file << "\n";
}

}  // namespace

// Undoes the parts of runs whose process is gone; says what it removed.
void SweepStockLeftovers() {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(kLedgerDir), closedir);
  if (!dir) return;
  while (dirent* e = readdir(dir.get())) {
    std::string pid = e->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (Exists("/proc/" + pid)) continue;
    const std::string path = std::string(kLedgerDir) + "/" + pid;
    std::ifstream in(path);
    std::string what, arg, removed;
    while (in >> what >> arg) {
      if (what == "cgroup") {
        for (int i = 0; i < 50 && rmdir(arg.c_str()) != 0 && errno == EBUSY; i++)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
      } else if (what == "swap") {
        swapoff(arg.c_str());
      } else if (what == "zram") {
        WriteFile("/sys/class/zram-control/hot_remove", arg);
      } else if (what == "file") {
        unlink(arg.c_str());
      } else {
        continue;
      }
      removed += (removed.empty() ? "" : ", ") + what + " " + arg;
    }
    unlink(path.c_str());
    if (!removed.empty())
      std::fprintf(stderr, "shadowmm-bench: removed what run %s left behind: %s\n", pid.c_str(),
                   removed.c_str());
  }
}

namespace {

void ArmSignalUndo() {
  std::memset(&g_undo, 0, sizeof(g_undo));
  struct sigaction sa {};
  sa.sa_handler = UndoOnSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : kUndoSignals) sigaddset(&sa.sa_mask, sig);
  for (size_t i = 0; i < std::size(kUndoSignals); i++)
    sigaction(kUndoSignals[i], &sa, &g_old_actions[i]);
  mkdir(kLedgerDir, 0700);
  Keep(g_undo.ledger, sizeof(g_undo.ledger),
       std::string(kLedgerDir) + "/" + std::to_string(getpid()));
  g_undo_armed = true;
}

void DisarmSignalUndo() {
  g_undo_armed = false;
  if (g_undo.ledger[0]) unlink(g_undo.ledger);
  for (size_t i = 0; i < std::size(kUndoSignals); i++)
    sigaction(kUndoSignals[i], &g_old_actions[i], nullptr);
}

// Where this process's memory cgroup is: the v1 memory hierarchy if one is
// mounted, else the v2 one.
struct CgroupPlace {
  bool v1 = false;
  std::string mount;  // the hierarchy's mount point
  std::string path;   // this process's cgroup in it, "/" or "/a/b"
};

std::optional<CgroupPlace> FindMemoryCgroup(std::string* why) {
  std::string v1_mount, v2_mount;
  {
    std::ifstream in("/proc/self/mounts");
    std::string dev, dir, type, opts, rest;
    while (in >> dev >> dir >> type >> opts && std::getline(in, rest)) {
      if (type == "cgroup") {
        std::stringstream o(opts);
        for (std::string opt; std::getline(o, opt, ',');)
          if (opt == "memory") v1_mount = dir;
      } else if (type == "cgroup2" && v2_mount.empty()) {
        v2_mount = dir;
      }
    }
  }
  std::string v1_path, v2_path;
  {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);) {
      size_t a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (controllers.empty()) v2_path = path;
      std::stringstream c(controllers);
      for (std::string name; std::getline(c, name, ',');)
        if (name == "memory") v1_path = path;
    }
  }
  if (!v1_mount.empty() && !v1_path.empty()) return CgroupPlace{true, v1_mount, v1_path};
  if (!v2_mount.empty()) {
    std::string controllers = ReadLine(v2_mount + "/cgroup.controllers");
    if (controllers.find("memory") != std::string::npos || v2_path == "/")
      return CgroupPlace{false, v2_mount, v2_path.empty() ? "/" : v2_path};
  }
  *why = "no memory cgroup controller is mounted (v1 'memory' or v2 with memory)";
  return std::nullopt;
}

// A memory cgroup of its own for this process, limited to @limit bytes,
// left (back to where the process was) and removed at destruction.  v1: a
// child of the process's own memory cgroup.  v2: a child of the root,
// since a v2 cgroup that holds processes cannot hand controllers down.
class MemoryCgroup : public StockMemory::Part {
 public:
  MemoryCgroup(uint64_t limit, std::string* description) {
    std::string why;
    std::optional<CgroupPlace> place = FindMemoryCgroup(&why);
    if (!place) throw Skip("stock memory budget: " + why);
    const std::string self = std::to_string(getpid());
    std::string parent =
        place->v1 ? place->mount + (place->path == "/" ? "" : place->path) : place->mount;
    home_ = place->mount + (place->path == "/" ? "" : place->path);
    dir_ = parent + "/shadowmm-bench." + self;
    if (!place->v1) {
      std::string sub = ReadLine(parent + "/cgroup.subtree_control");
      if (sub.find("memory") == std::string::npos) {
        if (int err = WriteFile(parent + "/cgroup.subtree_control", "+memory"))
          throw Skip(Why("stock memory budget: cannot enable the v2 memory controller in " +
                             parent + "/cgroup.subtree_control",
                         err));
      }
    }
    if (mkdir(dir_.c_str(), 0755) != 0)
      throw Skip(Why("stock memory budget: mkdir " + dir_, errno));
    made_ = true;
    limit_file_ = dir_ + (place->v1 ? "/memory.limit_in_bytes" : "/memory.max");
    unlimited_ = place->v1 ? "-1" : "max";
    if (int err = WriteFile(limit_file_, std::to_string(limit))) {
      Undo();
      throw Skip(Why("stock memory budget: writing " + limit_file_, err));
    }
    if (int err = WriteFile(dir_ + "/cgroup.procs", self)) {
      Undo();
      throw Skip(Why("stock memory budget: joining " + dir_, err));
    }
    joined_ = true;
    Keep(g_undo.home_procs, sizeof(g_undo.home_procs), home_ + "/cgroup.procs");
    Keep(g_undo.pid, sizeof(g_undo.pid), self);
    Keep(g_undo.cgroup, sizeof(g_undo.cgroup), dir_);
    SaveLedger();
    *description =
        std::string(place->v1 ? "memcg v1 " : "memcg v2 ") + dir_ + " limit " + MiB(limit);
  }
  ~MemoryCgroup() override { Undo(); }

 private:
  void Undo() {
    g_undo.home_procs[0] = g_undo.cgroup[0] = '\0';
    if (joined_) {
      // No limit any more: turning swap off brings pages back that are
      // charged here, and they must not call the OOM killer.
      WriteFile(limit_file_, unlimited_);
      // Back home first: a cgroup with a process in it cannot go.
      WriteFile(home_ + "/cgroup.procs", std::to_string(getpid()));
      joined_ = false;
    }
    if (made_) {
      // The kernel may still be draining the last charges: a few tries.
      for (int i = 0; i < 50 && rmdir(dir_.c_str()) != 0 && errno == EBUSY; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      made_ = false;
    }
  }

  std::string home_, dir_, limit_file_, unlimited_;
  bool made_ = false;
  bool joined_ = false;
};

// The swap signature mkswap writes: a version-1 header in the first page,
// "SWAPSPACE2" in its last ten bytes (include/linux/swap.h, union
// swap_header).
int WriteSwapHeader(const std::string& path, uint64_t bytes, uint64_t page_size) {
  std::vector<char> page(page_size, 0);
  const uint32_t version = 1;
  const uint32_t last_page = static_cast<uint32_t>(bytes / page_size - 1);
  std::memcpy(&page[1024], &version, sizeof(version));
  std::memcpy(&page[1028], &last_page, sizeof(last_page));
  std::memcpy(&page[page_size - 10], "SWAPSPACE2", 10);
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = 0;
  if (pwrite(fd, page.data(), page.size(), 0) != static_cast<ssize_t>(page.size()))
    err = errno ? errno : EIO;
  else if (fsync(fd) != 0)
    err = errno;
  close(fd);
  return err;
}

// swapon() for the life of the object, at the highest priority, so the
// run's pages go to it before any swap the machine already had.
class SwapOn {
 public:
  explicit SwapOn(std::string path) : path_(std::move(path)) {
    int flags = SWAP_FLAG_PREFER | (32767 & SWAP_FLAG_PRIO_MASK);
    if (swapon(path_.c_str(), flags) != 0) throw Skip(Why("stock swap: swapon " + path_, errno));
    Keep(g_undo.swap, sizeof(g_undo.swap), path_);
    SaveLedger();
  }
  ~SwapOn() {
    g_undo.swap[0] = '\0';
    swapoff(path_.c_str());
  }
  SwapOn(const SwapOn&) = delete;
  SwapOn& operator=(const SwapOn&) = delete;

 private:
  std::string path_;
};

// A zram device hot-added for the run and removed after it.
class ZramSwap : public StockMemory::Part {
 public:
  ZramSwap(uint64_t bytes, uint64_t page_size, std::string* description) {
    std::string id = ReadLine("/sys/class/zram-control/hot_add");
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
      throw Skip("stock swap: /sys/class/zram-control/hot_add gave no device");
    id_ = id;
    Keep(g_undo.zram_id, sizeof(g_undo.zram_id), id_);
    SaveLedger();
    const std::string dev = "/dev/zram" + id_;
    if (int err = WriteFile("/sys/block/zram" + id_ + "/disksize", std::to_string(bytes))) {
      Remove();
      throw Skip(Why("stock swap: sizing zram" + id_, err));
    }
    for (int i = 0; i < 100 && !Exists(dev); i++)  // udev-less systems: the node is devtmpfs'
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (int err = WriteSwapHeader(dev, bytes, page_size)) {
      Remove();
      throw Skip(Why("stock swap: writing the swap header to " + dev, err));
    }
    try {
      swap_ = std::make_unique<SwapOn>(dev);
    } catch (...) {
      Remove();
      throw;
    }
    *description = "swap " + dev + " (zram) " + MiB(bytes);
  }
  ~ZramSwap() override {
    swap_.reset();
    Remove();
  }

 private:
  void Remove() {
    g_undo.zram_id[0] = '\0';
    if (!id_.empty()) WriteFile("/sys/class/zram-control/hot_remove", id_);
    id_.clear();
  }

  std::string id_;
  std::unique_ptr<SwapOn> swap_;
};

// A swap file in /var/tmp, for a kernel without zram.
class FileSwap : public StockMemory::Part {
 public:
  FileSwap(uint64_t bytes, uint64_t page_size, std::string* description)
      : path_("/var/tmp/shadowmm-bench.swap." + std::to_string(getpid())) {
    int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw Skip(Why("stock swap: creating " + path_, errno));
    Keep(g_undo.swap_file, sizeof(g_undo.swap_file), path_);
    SaveLedger();
    int err = 0;
    if (int e = posix_fallocate(fd, 0, static_cast<off_t>(bytes))) err = e;
    close(fd);
    if (!err) err = WriteSwapHeader(path_, bytes, page_size);
    if (err) {
      g_undo.swap_file[0] = '\0';
      unlink(path_.c_str());
      throw Skip(Why("stock swap: preparing " + path_, err));
    }
    try {
      swap_ = std::make_unique<SwapOn>(path_);
    } catch (...) {
      g_undo.swap_file[0] = '\0';
      unlink(path_.c_str());
      throw;
    }
    *description = "swap file " + path_ + " " + MiB(bytes);
  }
  ~FileSwap() override {
    swap_.reset();
    g_undo.swap_file[0] = '\0';
    unlink(path_.c_str());
  }

 private:
  std::string path_;
  std::unique_ptr<SwapOn> swap_;
};

}  // namespace

uint64_t SwapTotalBytes() {
  std::ifstream in("/proc/swaps");
  std::string line;
  std::getline(in, line);  // the header
  uint64_t total = 0;
  while (std::getline(in, line)) {
    std::stringstream s(line);
    std::string name, type;
    uint64_t kib = 0;
    if (s >> name >> type >> kib) total += kib << 10;
  }
  return total;
}

StockMemory::StockMemory(uint64_t limit_bytes, uint64_t swap_bytes, uint64_t page_size)
    : limit_bytes_(limit_bytes), swap_bytes_(swap_bytes) {
  if (geteuid() != 0)
    throw Skip("stock memory budget and swap need root (a memory cgroup, swapon)");
  std::string swap_text, cgroup_text;
  SweepStockLeftovers();
  ArmSignalUndo();
  // Members made so far are undone by their own destructors if this
  // throws; the handlers go with them.
  struct Disarm {
    bool armed = true;
    ~Disarm() {
      if (armed) DisarmSignalUndo();
    }
  } disarm;
  if (swap_bytes > 0) {
    // The rest of the process swaps too (its heap, its stacks), and a full
    // device under a limit means the OOM killer: room for the budget's
    // size again, at least 64 MiB.  zram only holds what is swapped.
    uint64_t device = swap_bytes + (limit_bytes ? std::max<uint64_t>(limit_bytes, 64 << 20) : 0);
    if (Exists("/sys/class/zram-control/hot_add"))
      swap_ = std::make_unique<ZramSwap>(device, page_size, &swap_text);
    else
      swap_ = std::make_unique<FileSwap>(device, page_size, &swap_text);
  }
  // A limit below the working set without swap would only call the OOM
  // killer: the run would die, not swap.
  if (limit_bytes > 0 && SwapTotalBytes() == 0)
    throw Error(
        "stock: a memory budget without swap would only OOM-kill the run: give "
        "--swap_slots (or turn swap on)");
  if (limit_bytes > 0) cgroup_ = std::make_unique<MemoryCgroup>(limit_bytes, &cgroup_text);
  disarm.armed = false;
  description_ = cgroup_text.empty() ? swap_text
                 : swap_text.empty() ? cgroup_text
                                     : cgroup_text + ", " + swap_text;
}

StockMemory::~StockMemory() {
  cgroup_.reset();
  swap_.reset();
  DisarmSignalUndo();
}

}  // namespace shadowmm
