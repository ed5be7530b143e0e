// ExponentialBackoff: delay before retry n is initial * multiplier^n, capped at max.
//
// Used by the coordinator (when a transiently failed shard may be leased again)
// and by the worker (reconnecting to an absent coordinator).
// Threading: thread-compatible (a value type).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace kvfunda {

struct BackoffPolicy {
  int64_t initial_ms = 500;
  double multiplier = 2.0;
  int64_t max_ms = 30'000;

  // Delay before retry number `attempt` (0-based: the first retry waits initial_ms).
  int64_t DelayMs(int attempt) const {
    double d = static_cast<double>(initial_ms) * std::pow(multiplier, std::max(0, attempt));
    return static_cast<int64_t>(std::min(d, static_cast<double>(max_ms)));
  }
};

class ExponentialBackoff {
 public:
  explicit ExponentialBackoff(BackoffPolicy policy) : policy_(policy) {}
  // Returns the next delay and advances.
  int64_t NextMs() { return policy_.DelayMs(attempt_++); }
  void Reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffPolicy policy_;
  int attempt_ = 0;
};

}  // namespace kvfunda
