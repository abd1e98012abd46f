// SPDX-License-Identifier: GPL-2.0
//
// Batched submission of shadowmm_cmd records: a thread queues commands and
// they go to the file as whole records, several per write(), either by the
// write() syscall or as an IORING_OP_WRITE on the thread's own io_uring.
// The ctl file processes the records of one write in order and returns the
// bytes it consumed; a short count means the next record failed, which
// resubmitting from there turns into its -errno.
#ifndef SHADOWMM_HARNESS_SUBMIT_H_
#define SHADOWMM_HARNESS_SUBMIT_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "backend.h"

namespace shadowmm {

class RecordSubmitter {
 public:
  RecordSubmitter(int fd, unsigned batch);
  virtual ~RecordSubmitter() = default;
  RecordSubmitter(const RecordSubmitter&) = delete;
  RecordSubmitter& operator=(const RecordSubmitter&) = delete;

  // Queues the input fields of @cmd; writes the batch once it is full.
  void Queue(const shadowmm_cmd& cmd);
  // Writes what is queued and waits until the file has consumed it.
  // Throws SysError naming the record that failed.
  void Flush();
  size_t queued() const { return queue_.size(); }

 protected:
  // One write of @len bytes; returns bytes written or -errno.
  virtual long WriteOnce(const void* buf, size_t len) = 0;
  virtual const char* how() const = 0;
  int fd_;

 private:
  unsigned batch_;
  std::vector<shadowmm_cmd> queue_;
};

// Submit::kWrite or Submit::kUring.  Throws Error if io_uring is unavailable.
std::unique_ptr<RecordSubmitter> MakeRecordSubmitter(Submit how, int fd, unsigned batch);

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_SUBMIT_H_
