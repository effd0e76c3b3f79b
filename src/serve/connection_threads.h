// The HTTP server's connection scheduler: one thread per open connection up to a cap, so slow or
// idle clients cannot occupy the threads that /health and admitted requests need.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace dsla::serve {

/// httplib's task queue with a thread per connection (instead of a fixed pool that a few slow
/// clients fill): up to `max_connections` connections are served at once, later ones wait in
/// order. shutdown() waits until every connection has been served and closed.
class ConnectionThreads : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(int64_t max_connections);
  ~ConnectionThreads() override;

  void enqueue(std::function<void()> connection) override;
  void shutdown() override;

  int64_t active() const;
  int64_t waiting() const;

 private:
  /// Starts a detached thread that serves `connection`, then the waiting ones while any wait.
  void start(std::function<void()> connection);

  int64_t max_connections_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> waiting_;
  int64_t active_ = 0;
};

}  // namespace dsla::serve
