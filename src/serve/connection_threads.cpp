// Implementation of the thread-per-connection scheduler.
#include "serve/connection_threads.h"

#include <thread>

#include "core/error.h"

namespace dsla::serve {

ConnectionThreads::ConnectionThreads(int64_t max_connections) : max_connections_(max_connections) {
  DSLA_CHECK(max_connections >= 1, "max connections {} must be at least 1", max_connections);
}

ConnectionThreads::~ConnectionThreads() {
  shutdown();
}

void ConnectionThreads::enqueue(std::function<void()> connection) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (active_ >= max_connections_) {
    waiting_.push_back(std::move(connection));
    return;
  }
  ++active_;
  start(std::move(connection));
}

void ConnectionThreads::start(std::function<void()> connection) {
  std::thread([this, first = std::move(connection)]() mutable {
    std::function<void()> next = std::move(first);
    while (next) {
      next();  // httplib's connection handler catches what its routes throw
      next = nullptr;
      std::lock_guard<std::mutex> lock(mutex_);
      if (!waiting_.empty()) {
        next = std::move(waiting_.front());
        waiting_.pop_front();
      } else {
        --active_;
        idle_.notify_all();  // the last touch of `this`: shutdown() may return after it
      }
    }
  }).detach();
}

void ConnectionThreads::shutdown() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return active_ == 0 && waiting_.empty(); });
}

int64_t ConnectionThreads::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}

int64_t ConnectionThreads::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_.size();
}

}  // namespace dsla::serve
