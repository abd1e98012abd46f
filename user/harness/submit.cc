// SPDX-License-Identifier: GPL-2.0
#include "submit.h"

#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "shadow_thread.h"

namespace shadowmm {

RecordSubmitter::RecordSubmitter(int fd, unsigned batch) : fd_(fd), batch_(batch ? batch : 1) {
  queue_.reserve(batch_);
}

void RecordSubmitter::Queue(const shadowmm_cmd& cmd) {
  shadowmm_cmd& rec = queue_.emplace_back(cmd);
  rec.out_addr = rec.out_value = rec.out_faults = rec.out_len = 0;
  if (queue_.size() >= batch_) Flush();
}

void RecordSubmitter::Flush() {
  const size_t total = queue_.size() * sizeof(shadowmm_cmd);
  size_t done = 0;
  while (done < total) {
    long ret = WriteOnce(reinterpret_cast<const char*>(queue_.data()) + done, total - done);
    if (ret == -EINTR || ret == -EAGAIN) continue;
    if (ret > 0 && ret % sizeof(shadowmm_cmd) != 0) {
      queue_.clear();
      throw Error(std::string(how()) + ": the file consumed part of a record (" +
                  std::to_string(ret) + " bytes): record size mismatch with the module?");
    }
    if (ret <= 0) {
      size_t index = done / sizeof(shadowmm_cmd);
      std::string what = std::string(how()) + " record " + std::to_string(index) + " (" +
                         std::string(OpName(queue_[index].op)) + " at " + Hex(queue_[index].addr) +
                         ")";
      queue_.clear();
      throw SysError(what, ret == 0 ? EIO : static_cast<int>(-ret));
    }
    done += static_cast<size_t>(ret);
  }
  queue_.clear();
}

namespace {

class WriteSubmitter : public RecordSubmitter {
 public:
  using RecordSubmitter::RecordSubmitter;

 protected:
  long WriteOnce(const void* buf, size_t len) override {
    ssize_t ret = write(fd_, buf, len);
    return ret < 0 ? -errno : ret;
  }
  const char* how() const override { return "write()"; }
};

// One ring per thread, one write in flight: records of a thread must run in
// order (MAP before TOUCH before UNMAP), and a link chain does not outlive
// one io_uring_submit().  So io_uring costs about what write() does; both
// gain from the batch.  A ctl file that does not set FMODE_NOWAIT has each
// write punted to an io-wq worker, a context switch per batch.
class UringSubmitter : public RecordSubmitter {
 public:
  UringSubmitter(int fd, unsigned batch) : RecordSubmitter(fd, batch) {
    int ret = io_uring_queue_init(4, &ring_, 0);
    if (ret < 0)
      throw SysError("io_uring_queue_init (io_uring unavailable? see kernel.io_uring_disabled)",
                     -ret);
  }
  ~UringSubmitter() override { io_uring_queue_exit(&ring_); }

 protected:
  long WriteOnce(const void* buf, size_t len) override {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) return -EBUSY;
    // Offset -1: the file position, as write() uses (ctl is a stream).
    io_uring_prep_write(sqe, fd_, buf, static_cast<unsigned>(len), static_cast<__u64>(-1));
    int ret = io_uring_submit(&ring_);
    if (ret < 0) return ret;
    io_uring_cqe* cqe = nullptr;
    do {
      ret = io_uring_wait_cqe(&ring_, &cqe);
    } while (ret == -EINTR);
    if (ret < 0) return ret;
    long res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    return res;
  }
  const char* how() const override { return "io_uring write"; }

 private:
  io_uring ring_{};
};

}  // namespace

std::unique_ptr<RecordSubmitter> MakeRecordSubmitter(Submit how, int fd, unsigned batch) {
  switch (how) {
    case Submit::kWrite:
      return std::make_unique<WriteSubmitter>(fd, batch);
    case Submit::kUring:
      return std::make_unique<UringSubmitter>(fd, batch);
    case Submit::kIoctl:
      break;
  }
  throw Error("ioctl submission has no record batches");
}

}  // namespace shadowmm
