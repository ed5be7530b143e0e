#include "coordinator/core/results_summary.h"

#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace kvfunda {
namespace {

struct Sums {
  int64_t n = 0;
  double kv_peak = 0;
  std::map<std::string, std::pair<double, int64_t>> metrics;  // sum, count
};

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += "\"\"";
    else out += c;
  }
  return out + "\"";
}

// Metric names present in any cell, sorted.
std::set<std::string> MetricNames(const v1::SweepResults& results) {
  std::set<std::string> names;
  for (const auto& c : results.cells()) {
    for (const auto& [k, v] : c.metric_means()) names.insert(k);
  }
  return names;
}

}  // namespace

Result<v1::SweepResults> SummarizeResults(Store& store, int64_t sweep_id) {
  KVF_ASSIGN_OR_RETURN(auto sweep, store.LoadSweep(sweep_id));
  if (!sweep) return Status::NotFound("no sweep " + std::to_string(sweep_id));
  KVF_ASSIGN_OR_RETURN(auto summary, store.SummarizeSweep(sweep_id));

  std::map<std::string, Sums> sums;
  KVF_RETURN_IF_ERROR(store.ForEachResult(
      sweep_id, [&](const SweepCellRow& cell, const ResultRow& row) -> Status {
        Sums& s = sums[cell.cell.cell_id];
        ++s.n;
        s.kv_peak += static_cast<double>(row.kv_bytes_peak);
        auto metrics = nlohmann::json::parse(row.metrics_json, nullptr, false);
        if (metrics.is_object()) {
          for (const auto& [k, v] : metrics.items()) {
            if (!v.is_number()) continue;
            auto& [sum, count] = s.metrics[k];
            sum += v.get<double>();
            ++count;
          }
        }
        return Status::Ok();
      }));

  v1::SweepResults out;
  for (const CellSummaryRow& row : summary) {
    v1::CellResults* c = out.add_cells();
    v1::Cell* cell = c->mutable_cell();
    cell->set_cell_id(row.cell.cell_id);
    cell->set_model_id(row.model_id);
    cell->set_method(row.cell.method);
    cell->set_params_json(row.cell.params_json);
    cell->set_ratio(row.cell.ratio);
    cell->set_task(row.cell.task);
    cell->set_shots(row.cell.shots);
    c->set_samples_expected(row.samples_expected);
    c->set_samples_stored(row.samples_stored);
    c->set_score_mean(row.score_mean);
    c->set_kv_bytes_final_mean(row.kv_bytes_final_mean);
    c->set_prefill_ms_mean(row.prefill_ms_mean);
    c->set_decode_ms_mean(row.decode_ms_mean);
    auto it = sums.find(row.cell.cell_id);
    if (it != sums.end() && it->second.n > 0) {
      c->set_kv_bytes_peak_mean(it->second.kv_peak / static_cast<double>(it->second.n));
      for (const auto& [k, sc] : it->second.metrics) {
        (*c->mutable_metric_means())[k] = sc.first / static_cast<double>(sc.second);
      }
    }
  }
  return out;
}

std::string FormatResultsTable(const v1::SweepResults& results) {
  std::set<std::string> metrics = MetricNames(results);
  std::ostringstream os;
  char line[512];
  std::snprintf(line, sizeof(line), "%-16s %-10s %5s %-14s %6s %9s %8s", "model", "task", "shots",
                "method", "ratio", "samples", "score");
  os << line;
  for (const auto& m : metrics) {
    std::snprintf(line, sizeof(line), " %13s", m.c_str());
    os << line;
  }
  os << "  kv_KiB_final\n";
  for (const auto& c : results.cells()) {
    std::string samples = std::to_string(c.samples_stored()) + "/" +
                          std::to_string(c.samples_expected());
    std::snprintf(line, sizeof(line), "%-16s %-10s %5d %-14s %6.2f %9s %8.4f",
                  c.cell().model_id().c_str(), c.cell().task().c_str(), c.cell().shots(),
                  c.cell().method().c_str(), c.cell().ratio(), samples.c_str(), c.score_mean());
    os << line;
    for (const auto& m : metrics) {
      auto it = c.metric_means().find(m);
      std::string v = it == c.metric_means().end() ? "-" : Fixed(it->second, 4);
      std::snprintf(line, sizeof(line), " %13s", v.c_str());
      os << line;
    }
    os << "  " << Fixed(c.kv_bytes_final_mean() / 1024.0, 1) << "\n";
  }
  return os.str();
}

std::string FormatResultsCsv(const v1::SweepResults& results) {
  std::set<std::string> metrics = MetricNames(results);
  std::ostringstream os;
  os << "cell_id,model,task,shots,method,params,ratio,samples_stored,samples_expected,score_mean";
  for (const auto& m : metrics) os << "," << CsvField(m) << "_mean";
  os << ",kv_bytes_peak_mean,kv_bytes_final_mean,prefill_ms_mean,decode_ms_mean\n";
  for (const auto& c : results.cells()) {
    const v1::Cell& cell = c.cell();
    os << cell.cell_id() << "," << CsvField(cell.model_id()) << "," << CsvField(cell.task()) << ","
       << cell.shots() << "," << CsvField(cell.method()) << "," << CsvField(cell.params_json())
       << "," << Fixed(cell.ratio(), 6) << "," << c.samples_stored() << ","
       << c.samples_expected() << "," << Fixed(c.score_mean(), 6);
    for (const auto& m : metrics) {
      auto it = c.metric_means().find(m);
      os << "," << (it == c.metric_means().end() ? "" : Fixed(it->second, 6));
    }
    os << "," << Fixed(c.kv_bytes_peak_mean(), 1) << "," << Fixed(c.kv_bytes_final_mean(), 1)
       << "," << Fixed(c.prefill_ms_mean(), 3) << "," << Fixed(c.decode_ms_mean(), 3) << "\n";
  }
  return os.str();
}

}  // namespace kvfunda
