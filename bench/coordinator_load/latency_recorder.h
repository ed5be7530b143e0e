// LatencyRecorder: durations of one kind of operation (an RPC, a whole cycle),
// kept in full so exact percentiles can be computed after a run.
//
// Ownership: a value; each simulated worker owns its own recorders and they are
// merged after the workers have stopped.
// Threading: thread-compatible (one thread at a time).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace kvfunda::bench {

class LatencyRecorder {
 public:
  // Records one duration in microseconds.
  void Add(int64_t us) {
    us_.push_back(us);
    sorted_ = false;
  }
  // Appends every duration of `other`.
  void Merge(const LatencyRecorder& other) {
    us_.insert(us_.end(), other.us_.begin(), other.us_.end());
    sorted_ = false;
  }
  int64_t count() const { return static_cast<int64_t>(us_.size()); }

  // The q-quantile (0 <= q <= 1, nearest rank) in microseconds; 0 when empty.
  // Sorts the samples in place (so it is not const).
  int64_t Quantile(double q) {
    if (us_.empty()) return 0;
    if (!sorted_) {
      std::sort(us_.begin(), us_.end());
      sorted_ = true;
    }
    const double clamped = std::clamp(q, 0.0, 1.0);
    size_t rank = static_cast<size_t>(clamped * static_cast<double>(us_.size()));
    if (rank >= us_.size()) rank = us_.size() - 1;
    return us_[rank];
  }
  // Mean in microseconds; 0 when empty.
  double Mean() const {
    if (us_.empty()) return 0;
    double sum = 0;
    for (int64_t v : us_) sum += static_cast<double>(v);
    return sum / static_cast<double>(us_.size());
  }

 private:
  std::vector<int64_t> us_;
  bool sorted_ = false;
};

}  // namespace kvfunda::bench
