// Helpers for the coordinator tests: a small fake "model" file, sweep specs
// built as structs (no parsing), and a harness that owns a store and every
// manager with a FakeClock, and can be closed and reopened (restart tests).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/base/clock.h"
#include "coordinator/core/coordinator_config.h"
#include "coordinator/core/event_log.h"
#include "coordinator/core/lease_table.h"
#include "coordinator/core/result_writer.h"
#include "coordinator/core/sweep_manager.h"
#include "coordinator/core/worker_registry.h"
#include "coordinator/spec/sweep_spec.h"
#include "coordinator/store/store.h"
#include "test_support.h"
#include "worker/compression/method_catalog.h"
#include "worker/tasks/task_catalog.h"

namespace kvfunda::testing {

// Writes a small file standing in for a model checkpoint; returns its path.
inline std::string WriteFakeModel(const std::filesystem::path& dir, const std::string& name,
                                  const std::string& bytes) {
  std::filesystem::path p = dir / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p.string();
}

inline nlohmann::json FidelityParams(int64_t num_samples) {
  Result<nlohmann::json> p =
      CanonicalParams(FindTask("fidelity")->params, {{"num_samples", num_samples}});
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : nlohmann::json();
}

inline MethodEntry Streaming(int sinks) {
  Result<nlohmann::json> p = CanonicalParams(FindMethod("streamingllm")->params, {{"sinks", sinks}});
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return MethodEntry{"streamingllm", p.ok() ? *p : nlohmann::json()};
}

// One model, fidelity with `samples` samples (shots 0), streamingllm x ratios.
inline SweepSpec SmallSpec(const std::string& model_path, int64_t samples, int shard_size,
                           std::vector<double> ratios = {0.5}) {
  SweepSpec spec;
  spec.name = "small";
  spec.models.push_back(ModelEntry{"m", model_path, "base"});
  spec.methods.push_back(Streaming(4));
  spec.ratios = std::move(ratios);
  spec.tasks.push_back(TaskEntry{"fidelity", {0}, std::nullopt, FidelityParams(samples)});
  spec.shard_size = shard_size;
  spec.max_attempts = 3;
  return spec;
}

// A result row for (cell, sample) with a recognisable score.
inline v1::SampleResult Row(const std::string& cell_id, int64_t sample, double score = 1.0) {
  v1::SampleResult r;
  r.set_cell_id(cell_id);
  r.set_sample_idx(sample);
  r.set_score(score);
  (*r.mutable_metrics())["kl_mean"] = 0.25;
  r.set_prediction("out " + std::to_string(sample));
  r.set_prompt_tokens(10);
  r.set_output_tokens(5);
  r.set_kv_bytes_final(1000);
  return r;
}

// Every (cell, sample) row of an assignment that is not in its done list.
inline std::vector<v1::SampleResult> MissingRows(const v1::ShardAssignment& a) {
  std::vector<std::vector<bool>> done(a.cells_size(),
                                      std::vector<bool>(a.sample_end() - a.sample_begin()));
  for (const auto& d : a.done()) done[d.cell_index()][d.sample_idx() - a.sample_begin()] = true;
  std::vector<v1::SampleResult> rows;
  for (int c = 0; c < a.cells_size(); ++c) {
    for (int64_t s = a.sample_begin(); s < a.sample_end(); ++s) {
      if (!done[c][s - a.sample_begin()]) rows.push_back(Row(a.cells(c).cell_id(), s));
    }
  }
  return rows;
}

inline v1::ReportResultsRequest AsRequest(const std::vector<v1::SampleResult>& rows) {
  v1::ReportResultsRequest req;
  for (const auto& r : rows) *req.add_results() = r;
  return req;
}

// A store plus every manager, on a FakeClock; Reopen() simulates a restart.
class Harness {
 public:
  explicit Harness(std::string db_path, CoordinatorConfig config = {})
      : db_path_(std::move(db_path)), config_(std::move(config)) {
    config_.db_path = db_path_;
    Open();
  }
  ~Harness() { Close(); }

  void Open() {
    auto s = Store::Open(db_path_, config_.store, clock.NowMs());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(s).value();
    writer = std::make_unique<ResultWriter>(*store);
    events = std::make_unique<EventLog>(*writer, clock);
    table = std::make_unique<LeaseTable>(config_, *store, *writer, *events, clock);
    workers = std::make_unique<WorkerRegistry>(config_, *writer, *events, clock);
    sweeps = std::make_unique<SweepManager>(config_, *store, *writer, *table, clock);
    Status st = table->Load();
    ASSERT_TRUE(st.ok()) << st.ToString();
    st = workers->Load(*store);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void Close() {
    sweeps.reset();
    workers.reset();
    table.reset();
    events.reset();
    writer.reset();  // drains
    store.reset();
  }
  void Reopen() {
    Close();
    Open();
  }

  // Submits `spec`; fails the test on error.
  v1::SubmitSweepReply Submit(const SweepSpec& spec) {
    auto r = sweeps->SubmitSpec(spec, false);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : v1::SubmitSweepReply();
  }
  std::optional<v1::ShardAssignment> Lease(const std::string& worker = "w1",
                                           const std::string& checksum = "") {
    int64_t retry = 0;
    return table->Lease(worker, checksum, &retry);
  }
  ReportOutcome Report(const v1::ShardAssignment& a, const std::vector<v1::SampleResult>& rows) {
    auto req = AsRequest(rows);
    auto r = table->Report("w1", a.lease_id(), req.results());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ReportOutcome{};
  }
  v1::SweepStatus SweepStatusOf(const std::string& sweep_id) {
    auto r = sweeps->Get(sweep_id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : v1::SweepStatus();
  }

  FakeClock clock;
  std::unique_ptr<Store> store;
  std::unique_ptr<ResultWriter> writer;
  std::unique_ptr<EventLog> events;
  std::unique_ptr<LeaseTable> table;
  std::unique_ptr<WorkerRegistry> workers;
  std::unique_ptr<SweepManager> sweeps;

 private:
  std::string db_path_;
  CoordinatorConfig config_;
};

}  // namespace kvfunda::testing
