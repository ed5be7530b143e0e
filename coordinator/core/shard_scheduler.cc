#include "coordinator/core/shard_scheduler.h"

namespace kvfunda {
namespace {

std::optional<int64_t> FirstReady(const std::map<int64_t, int64_t>& shards, int64_t now_ms) {
  for (const auto& [id, not_before] : shards) {
    if (not_before <= now_ms) return id;
  }
  return std::nullopt;
}

}  // namespace

void ShardScheduler::Add(int64_t sweep_id, const std::string& model_checksum, int64_t shard_id,
                         int64_t not_before_ms) {
  auto [it, fresh] = pending_[sweep_id][model_checksum].emplace(shard_id, not_before_ms);
  if (fresh) {
    ++size_;
  } else {
    it->second = not_before_ms;
  }
}

void ShardScheduler::Remove(int64_t sweep_id, const std::string& model_checksum,
                            int64_t shard_id) {
  auto sweep = pending_.find(sweep_id);
  if (sweep == pending_.end()) return;
  auto model = sweep->second.find(model_checksum);
  if (model == sweep->second.end()) return;
  if (model->second.erase(shard_id) > 0) --size_;
  if (model->second.empty()) sweep->second.erase(model);
  if (sweep->second.empty()) pending_.erase(sweep);
}

std::optional<int64_t> ShardScheduler::Pick(int64_t now_ms,
                                            const std::string& preferred_checksum) const {
  if (!preferred_checksum.empty()) {
    for (const auto& [sweep_id, models] : pending_) {
      auto it = models.find(preferred_checksum);
      if (it == models.end()) continue;
      if (auto id = FirstReady(it->second, now_ms)) return id;
    }
  }
  for (const auto& [sweep_id, models] : pending_) {
    std::optional<int64_t> best;
    for (const auto& [checksum, shards] : models) {
      auto id = FirstReady(shards, now_ms);
      if (id && (!best || *id < *best)) best = id;
    }
    if (best) return best;
  }
  return std::nullopt;
}

std::optional<int64_t> ShardScheduler::EarliestNotBefore() const {
  std::optional<int64_t> best;
  for (const auto& [sweep_id, models] : pending_) {
    for (const auto& [checksum, shards] : models) {
      for (const auto& [id, not_before] : shards) {
        if (!best || not_before < *best) best = not_before;
      }
    }
  }
  return best;
}

}  // namespace kvfunda
