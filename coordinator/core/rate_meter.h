// RateMeter: events per second over the last minute, in one-second buckets.
//
// Used for a sweep's samples/s (results newly stored, stamped with the time they
// were reported) and its ETA. Before a minute has passed since the first event
// the rate is taken over the time elapsed since then (at least one second).
// Threading: thread-compatible (the LeaseTable guards it with its mutex).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace kvfunda {

class RateMeter {
 public:
  static constexpr int kWindowS = 60;

  // Records `n` events at `now_ms` (times must not go backwards by more than the window).
  void Add(int64_t now_ms, int64_t n) {
    if (n <= 0) return;
    if (first_ms_ < 0) first_ms_ = now_ms;
    const int64_t sec = now_ms / 1000;
    Bucket& b = buckets_[static_cast<size_t>(sec % kWindowS)];
    if (b.sec != sec) b = Bucket{sec, 0};
    b.count += n;
  }

  // Events per second over the last minute at `now_ms`; 0 before any event.
  double PerSecond(int64_t now_ms) const {
    if (first_ms_ < 0) return 0;
    const int64_t sec = now_ms / 1000;
    int64_t total = 0;
    for (const Bucket& b : buckets_) {
      if (b.sec > sec - kWindowS && b.sec <= sec) total += b.count;
    }
    const double elapsed_s = static_cast<double>(now_ms - first_ms_) / 1000.0;
    const double window_s = std::clamp(elapsed_s, 1.0, static_cast<double>(kWindowS));
    return static_cast<double>(total) / window_s;
  }

 private:
  struct Bucket {
    int64_t sec = -1;
    int64_t count = 0;
  };
  std::array<Bucket, kWindowS> buckets_{};
  int64_t first_ms_ = -1;
};

}  // namespace kvfunda
