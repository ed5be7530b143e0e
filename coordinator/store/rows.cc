#include "coordinator/store/rows.h"

#include <array>

namespace kvfunda {
namespace {
constexpr std::array<std::string_view, 5> kShardStates = {"pending", "leased", "done", "failed",
                                                         "cancelled"};
constexpr std::array<std::string_view, 5> kSweepStates = {"queued", "running", "done", "failed",
                                                         "cancelled"};
}  // namespace

std::string_view ShardStateName(ShardState s) { return kShardStates[static_cast<size_t>(s)]; }

std::optional<ShardState> ParseShardState(std::string_view name) {
  for (size_t i = 0; i < kShardStates.size(); ++i) {
    if (kShardStates[i] == name) return static_cast<ShardState>(i);
  }
  return std::nullopt;
}

v1::SweepState SweepStateToProto(SweepState s) {
  switch (s) {
    case SweepState::kQueued: return v1::SWEEP_QUEUED;
    case SweepState::kRunning: return v1::SWEEP_RUNNING;
    case SweepState::kDone: return v1::SWEEP_DONE;
    case SweepState::kFailed: return v1::SWEEP_FAILED;
    case SweepState::kCancelled: return v1::SWEEP_CANCELLED;
  }
  return v1::SWEEP_STATE_UNSPECIFIED;
}

std::string_view SweepStateName(SweepState s) { return kSweepStates[static_cast<size_t>(s)]; }

std::optional<SweepState> ParseSweepState(std::string_view name) {
  for (size_t i = 0; i < kSweepStates.size(); ++i) {
    if (kSweepStates[i] == name) return static_cast<SweepState>(i);
  }
  return std::nullopt;
}

}  // namespace kvfunda
