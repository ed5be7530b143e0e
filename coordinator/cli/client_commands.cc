// `kvfunda submit | status | resume | cancel | results`: the user's commands.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "coordinator/cli/subcommand.h"
#include "coordinator/cli/sweep_client.h"
#include "coordinator/core/results_summary.h"
#include "proto/kvfunda.grpc.pb.h"

namespace kvfunda::cli {
namespace {

const char* kDefaultCoordinator = "127.0.0.1:50051";

struct CommonFlags {
  std::string coordinator;
  std::string db = "kvfunda.db";
  std::string token_file;
};

void AddSourceFlags(CLI::App* sub, CommonFlags& f, bool db_allowed) {
  sub->add_option("--coordinator", f.coordinator,
                  db_allowed ? "a live coordinator host:port (default: read --db)"
                             : "coordinator host:port (default 127.0.0.1:50051)");
  if (db_allowed) {
    sub->add_option("--db", f.db, "database file to read when no --coordinator is given")
        ->capture_default_str();
  }
  sub->add_option("--token-file", f.token_file, "file holding the admin bearer token");
}

std::unique_ptr<v1::SweepService::Stub> Stub(const std::string& address) {
  return v1::SweepService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

void PrepareContext(grpc::ClientContext& ctx, const std::string& token, int seconds) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
}

int ReportRpcError(const grpc::Status& s, const std::string& address) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    std::cerr << "kvfunda: coordinator " << address << " is not reachable: " << s.error_message()
              << "\n";
  } else {
    std::cerr << "kvfunda: " << s.error_message() << "\n";
  }
  return s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? 2 : 1;
}

std::string Address(const CommonFlags& f) {
  return f.coordinator.empty() ? kDefaultCoordinator : f.coordinator;
}

// ---- submit
struct SubmitFlags {
  CommonFlags common;
  std::string spec;
  bool dry_run = false;
  bool watch = false;
};

int Submit(const SubmitFlags& f) {
  std::ifstream in(f.spec);
  if (!in) {
    std::cerr << "kvfunda: cannot read " << f.spec << "\n";
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  v1::SubmitSweepRequest req;
  req.set_spec_text(ss.str());
  req.set_spec_name(f.spec);
  req.set_dry_run(f.dry_run);
  std::string address = Address(f.common);
  std::string token = ReadTokenFile(f.common.token_file);
  auto stub = Stub(address);
  grpc::ClientContext ctx;
  PrepareContext(ctx, token, 600);
  v1::SubmitSweepReply reply;
  grpc::Status s = stub->SubmitSweep(&ctx, req, &reply);
  if (!s.ok()) return ReportRpcError(s, address);
  if (f.dry_run) {
    std::cout << "valid: " << reply.cells() << " cells, " << reply.shards() << " shards, "
              << reply.results_expected() << " results (" << reply.results_reused()
              << " already stored); nothing queued\n";
    return 0;
  }
  std::cout << "submitted sweep " << reply.sweep_id() << ": " << reply.cells() << " cells, "
            << reply.shards() << " shards, " << reply.results_expected() << " results expected ("
            << reply.results_reused() << " reused from earlier sweeps)\n";
  if (!f.watch) return 0;
  grpc::ClientContext wctx;
  if (!token.empty()) wctx.AddMetadata("authorization", "Bearer " + token);
  v1::WatchSweepRequest wreq;
  wreq.set_sweep_id(reply.sweep_id());
  auto reader = stub->WatchSweep(&wctx, wreq);
  v1::SweepEvent ev;
  v1::SweepState last = v1::SWEEP_STATE_UNSPECIFIED;
  while (reader->Read(&ev)) {
    const auto& st = ev.status();
    last = st.state();
    std::cout << StateLabel(st.state()) << ": shards " << st.shards_done() << "/"
              << st.shards_total() << " done, " << st.shards_failed() << " failed; results "
              << st.results_stored() << "/" << st.results_expected()
              << (ev.message().empty() ? "" : "  " + ev.message()) << "\n";
  }
  grpc::Status ws = reader->Finish();
  if (!ws.ok()) return ReportRpcError(ws, address);
  return last == v1::SWEEP_DONE ? 0 : 1;
}

// ---- status / results
struct ReadFlags {
  CommonFlags common;
  std::string sweep_id;
  bool csv = false;
};

int Status_(const ReadFlags& f) {
  auto client = OpenSweepClient({f.common.coordinator, f.common.db, ReadTokenFile(f.common.token_file)});
  if (!client.ok()) {
    std::cerr << "kvfunda: " << client.status().message() << "\n";
    return 1;
  }
  std::vector<v1::SweepStatus> sweeps;
  if (f.sweep_id.empty()) {
    auto all = (*client)->List();
    if (!all.ok()) {
      std::cerr << "kvfunda: " << all.status().message() << "\n";
      return 1;
    }
    sweeps = std::move(all).value();
  } else {
    auto one = (*client)->Get(f.sweep_id);
    if (!one.ok()) {
      std::cerr << "kvfunda: " << one.status().message() << "\n";
      return 1;
    }
    sweeps.push_back(std::move(one).value());
  }
  if (sweeps.empty()) {
    std::cout << "no sweeps yet\n";
    return 0;
  }
  std::cout << FormatStatusTable(sweeps);
  return 0;
}

int Results(const ReadFlags& f) {
  auto client = OpenSweepClient({f.common.coordinator, f.common.db, ReadTokenFile(f.common.token_file)});
  if (!client.ok()) {
    std::cerr << "kvfunda: " << client.status().message() << "\n";
    return 1;
  }
  std::string id = f.sweep_id;
  if (id.empty()) {  // the newest sweep
    auto all = (*client)->List();
    if (!all.ok()) {
      std::cerr << "kvfunda: " << all.status().message() << "\n";
      return 1;
    }
    if (all->empty()) {
      std::cerr << "kvfunda: no sweeps yet\n";
      return 1;
    }
    id = all->back().sweep_id();
  }
  auto results = (*client)->Results(id);
  if (!results.ok()) {
    std::cerr << "kvfunda: " << results.status().message() << "\n";
    return 1;
  }
  if (f.csv) {
    std::cout << FormatResultsCsv(*results);
  } else {
    const auto& st = results->status();
    std::cout << "sweep " << st.sweep_id() << " (" << st.name() << "): " << StateLabel(st.state())
              << ", " << st.results_stored() << "/" << st.results_expected() << " results\n"
              << FormatResultsTable(*results);
  }
  return 0;
}

// ---- resume / cancel
struct MutateFlags {
  CommonFlags common;
  std::string sweep_id;
};

// Calls ResumeSweep or CancelSweep and prints what changed.
template <typename Request, typename Reply, typename Call, typename Describe>
int Mutate(const MutateFlags& f, Call call, Describe describe) {
  std::string address = Address(f.common);
  auto stub = Stub(address);
  grpc::ClientContext ctx;
  PrepareContext(ctx, ReadTokenFile(f.common.token_file), 30);
  Request req;
  req.set_sweep_id(f.sweep_id);
  Reply reply;
  grpc::Status s = call(*stub, &ctx, req, &reply);
  if (!s.ok()) return ReportRpcError(s, address);
  std::cout << "sweep " << f.sweep_id << ": " << describe(reply) << "\n";
  return 0;
}

int Resume(const MutateFlags& f) {
  return Mutate<v1::ResumeSweepRequest, v1::ResumeSweepReply>(
      f,
      [](v1::SweepService::Stub& stub, grpc::ClientContext* ctx, const v1::ResumeSweepRequest& req,
         v1::ResumeSweepReply* reply) { return stub.ResumeSweep(ctx, req, reply); },
      [](const v1::ResumeSweepReply& r) {
        return std::to_string(r.shards_requeued()) +
               " shards re-queued; stored results are kept and skipped";
      });
}

int Cancel(const MutateFlags& f) {
  return Mutate<v1::CancelSweepRequest, v1::CancelSweepReply>(
      f,
      [](v1::SweepService::Stub& stub, grpc::ClientContext* ctx, const v1::CancelSweepRequest& req,
         v1::CancelSweepReply* reply) { return stub.CancelSweep(ctx, req, reply); },
      [&f](const v1::CancelSweepReply& r) {
        return std::to_string(r.shards_cancelled()) + " shards cancelled; `kvfunda resume " +
               f.sweep_id + "` continues it";
      });
}

}  // namespace

void AddClientCommands(CLI::App& root, CommandTable& table) {
  {
    auto f = std::make_shared<SubmitFlags>();
    CLI::App* sub = root.add_subcommand("submit", "Submit a sweep spec (YAML or JSON) to a coordinator.");
    sub->add_option("spec", f->spec, "sweep spec file")->required();
    AddSourceFlags(sub, f->common, false);
    sub->add_flag("--dry-run", f->dry_run, "validate and count cells/shards; queue nothing");
    sub->add_flag("--watch", f->watch, "follow progress until the sweep ends");
    table[sub] = [f] { return Submit(*f); };
  }
  {
    auto f = std::make_shared<ReadFlags>();
    CLI::App* sub = root.add_subcommand(
        "status", "Per sweep: state, cells, shards done/leased/failed, results, samples/s, ETA.");
    sub->add_option("sweep", f->sweep_id, "sweep id (default: all sweeps)");
    AddSourceFlags(sub, f->common, true);
    table[sub] = [f] { return Status_(*f); };
  }
  {
    auto f = std::make_shared<ReadFlags>();
    CLI::App* sub = root.add_subcommand("results", "Per-cell results of a sweep, as a table or CSV.");
    sub->add_option("sweep", f->sweep_id, "sweep id (default: the newest sweep)");
    AddSourceFlags(sub, f->common, true);
    sub->add_flag("--csv", f->csv, "print CSV");
    table[sub] = [f] { return Results(*f); };
  }
  {
    auto f = std::make_shared<MutateFlags>();
    CLI::App* sub = root.add_subcommand(
        "resume", "Re-queue a sweep's failed and cancelled shards; stored results are skipped.");
    sub->add_option("sweep", f->sweep_id, "sweep id")->required();
    AddSourceFlags(sub, f->common, false);
    table[sub] = [f] { return Resume(*f); };
  }
  {
    auto f = std::make_shared<MutateFlags>();
    CLI::App* sub = root.add_subcommand(
        "cancel", "Stop handing out a sweep's shards and tell its workers to stop.");
    sub->add_option("sweep", f->sweep_id, "sweep id")->required();
    AddSourceFlags(sub, f->common, false);
    table[sub] = [f] { return Cancel(*f); };
  }
}

}  // namespace kvfunda::cli
