#include "bench/coordinator_load/load_worker.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

namespace kvfunda::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t MicrosSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - start)
      .count();
}

// Fills `row` with a plausible fidelity-task result for (cell, sample).
void FillRow(const std::string& cell_id, int cell_index, int64_t sample_idx,
             const std::string& prediction, v1::SampleResult* row) {
  row->set_cell_id(cell_id);
  row->set_sample_idx(sample_idx);
  const bool exact = (sample_idx + cell_index) % 3 != 0;
  row->set_score(exact ? 1.0 : 0.0);
  auto& metrics = *row->mutable_metrics();
  metrics["exact_match"] = exact ? 1.0 : 0.0;
  metrics["prefix_agree"] = static_cast<double>((sample_idx * 7 + cell_index) % 64);
  metrics["kl_mean"] = 0.001 * static_cast<double>(cell_index + 1);
  row->set_prediction(prediction);
  row->set_prompt_tokens(96);
  row->set_output_tokens(64);
  row->set_kv_bytes_peak(1 << 20);
  row->set_kv_bytes_final((1 << 20) / (cell_index + 1));
  row->set_prefill_ms(1.5);
  row->set_decode_ms(12.25 + cell_index);
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

SimulatedWorker::SimulatedWorker(std::unique_ptr<LoadClient> client, WorkerOptions options)
    : client_(std::move(client)), options_(std::move(options)) {
  const std::string text = "Once upon a time, a little fox found a shiny stone. ";
  while (static_cast<int>(prediction_.size()) < options_.prediction_bytes) prediction_ += text;
  prediction_.resize(static_cast<size_t>(std::max(0, options_.prediction_bytes)));
}

void SimulatedWorker::Failed(const char* rpc, const grpc::Status& status) {
  ++stats_.rpc_errors;
  if (stats_.first_error.empty()) {
    stats_.first_error = std::string(rpc) + ": " + status.error_message() + " (code " +
                         std::to_string(static_cast<int>(status.error_code())) + ")";
  }
}

Status SimulatedWorker::Register() {
  v1::RegisterRequest req;
  req.set_name(options_.name);
  req.set_host("localhost");
  req.set_device("cpu");
  req.set_memory_bytes(int64_t{1} << 30);
  req.set_pid(static_cast<int32_t>(getpid()));
  v1::RegisterReply reply;
  grpc::Status st = client_->Register(req, &reply);
  if (!st.ok()) return Status::Io("Register (" + options_.name + "): " + st.error_message());
  worker_id_ = reply.worker_id();
  return Status::Ok();
}

void SimulatedWorker::Run(SteadyClock::time_point stop_at) {
  const double cpu_start = ThreadCpuSeconds();
  while (SteadyClock::now() < stop_at) {
    if (!Cycle()) break;
  }
  stats_.finished = SteadyClock::now();
  stats_.thread_cpu_s = ThreadCpuSeconds() - cpu_start;
}

bool SimulatedWorker::Cycle() {
  const SteadyClock::time_point cycle_start = SteadyClock::now();

  // ---- Lease
  v1::LeaseRequest lease_req;
  lease_req.set_worker_id(worker_id_);
  v1::LeaseReply lease;
  grpc::Status st = client_->Lease(lease_req, &lease);
  stats_.lease.Add(MicrosSince(cycle_start));
  if (!st.ok()) {
    Failed("Lease", st);
    return false;
  }
  if (!lease.has_shard()) {
    stats_.out_of_work = true;
    return false;
  }
  const v1::ShardAssignment& a = lease.shard();
  const int64_t samples = a.sample_end() - a.sample_begin();

  // ---- Heartbeat
  if (options_.heartbeat) {
    v1::HeartbeatRequest hb_req;
    hb_req.set_worker_id(worker_id_);
    hb_req.set_lease_id(a.lease_id());
    hb_req.set_samples_done(0);
    v1::HeartbeatReply hb;
    const SteadyClock::time_point t = SteadyClock::now();
    st = client_->Heartbeat(hb_req, &hb);
    stats_.heartbeat.Add(MicrosSince(t));
    if (!st.ok()) {
      Failed("Heartbeat", st);
      return false;
    }
    if (!hb.lease_valid()) ++stats_.heartbeats_invalid;
  }

  // ---- ReportResults: sample-major, as a worker reports after each sample.
  std::vector<bool> done(static_cast<size_t>(a.cells_size() * samples), false);
  for (const auto& d : a.done()) {
    const int64_t i = d.sample_idx() - a.sample_begin();
    if (d.cell_index() >= 0 && d.cell_index() < a.cells_size() && i >= 0 && i < samples) {
      done[static_cast<size_t>(d.cell_index() * samples + i)] = true;
    }
  }
  const int64_t total_rows = a.cells_size() * samples;
  const int64_t batch_rows = options_.report_batch > 0 ? options_.report_batch : total_rows;
  v1::ReportResultsRequest report;
  auto send = [&]() -> bool {
    if (report.results_size() == 0) return true;
    report.set_worker_id(worker_id_);
    report.set_lease_id(a.lease_id());
    v1::ReportResultsReply reply;
    const SteadyClock::time_point t = SteadyClock::now();
    grpc::Status s = client_->ReportResults(report, &reply);
    stats_.report.Add(MicrosSince(t));
    if (!s.ok()) {
      Failed("ReportResults", s);
      return false;
    }
    stats_.rows_sent += report.results_size();
    stats_.rows_stored += reply.stored();
    stats_.duplicates += reply.duplicates();
    stats_.rejected += reply.rejected();
    report.Clear();
    return true;
  };
  for (int64_t i = 0; i < samples; ++i) {
    for (int c = 0; c < a.cells_size(); ++c) {
      if (done[static_cast<size_t>(c * samples + i)]) continue;
      FillRow(a.cells(c).cell_id(), c, a.sample_begin() + i, prediction_, report.add_results());
      if (report.results_size() >= batch_rows && !send()) return false;
    }
  }
  if (!send()) return false;

  // ---- CompleteShard
  v1::CompleteShardRequest complete_req;
  complete_req.set_worker_id(worker_id_);
  complete_req.set_lease_id(a.lease_id());
  v1::CompleteShardReply complete;
  const SteadyClock::time_point t = SteadyClock::now();
  st = client_->CompleteShard(complete_req, &complete);
  const SteadyClock::time_point end = SteadyClock::now();
  stats_.complete.Add(std::chrono::duration_cast<std::chrono::microseconds>(end - t).count());
  if (!st.ok()) {
    Failed("CompleteShard", st);
    return false;
  }
  if (!complete.accepted()) {
    ++stats_.complete_refused;
    if (stats_.first_error.empty()) stats_.first_error = "CompleteShard: " + complete.message();
    return true;
  }
  ++stats_.cycles;
  stats_.cycle.Add(
      std::chrono::duration_cast<std::chrono::microseconds>(end - cycle_start).count());
  return true;
}

}  // namespace kvfunda::bench
