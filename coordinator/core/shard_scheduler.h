// ShardScheduler: which pending shard a worker gets next.
//
// Policy, in order:
//   1. only shards whose not_before_ms has passed (retry backoff);
//   2. model affinity: a shard of the model the worker holds in memory (matched
//      by checksum), from the oldest sweep that has one;
//   3. otherwise the oldest sweep's (lowest sweep id) lowest-numbered shard.
// Affinity wins over sweep age because loading a model costs far more than a shard.
//
// Ownership: owned by the LeaseTable, which keeps exactly its pending shards here.
// Threading: thread-compatible (guarded by the LeaseTable's mutex).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace kvfunda {

class ShardScheduler {
 public:
  // REQUIRES: the shard is not already queued.
  void Add(int64_t sweep_id, const std::string& model_checksum, int64_t shard_id,
           int64_t not_before_ms);
  // No-op when the shard is not queued.
  void Remove(int64_t sweep_id, const std::string& model_checksum, int64_t shard_id);
  // The shard to hand out at `now_ms` (see the policy above), or nullopt. Does
  // not remove it.
  std::optional<int64_t> Pick(int64_t now_ms, const std::string& preferred_checksum) const;
  // The earliest not_before among queued shards (for "retry after"), or nullopt.
  std::optional<int64_t> EarliestNotBefore() const;
  size_t size() const { return size_; }

 private:
  using Shards = std::map<int64_t, int64_t>;  // shard id -> not_before_ms
  // sweep id (oldest first) -> model checksum -> shards
  std::map<int64_t, std::map<std::string, Shards>> pending_;
  size_t size_ = 0;
};

}  // namespace kvfunda
