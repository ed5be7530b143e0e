// Coordinator over real gRPC and HTTP on loopback (ports picked by the OS):
// submit (valid and invalid specs), a worker's register/lease/report/complete
// cycle, WatchSweep, GetResults, the bearer token, and the HTTP JSON API.
#include "coordinator/core/coordinator.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include "coord_test_util.h"
#include "proto/kvfunda.grpc.pb.h"

namespace kvfunda {
namespace {

using testing::MissingRows;

class CoordinatorServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kvfunda::testing::MakeTempDir("kvf_server_");
    model_ = kvfunda::testing::WriteFakeModel(dir_, "model.bin", "weights");
  }
  void TearDown() override {
    if (coord_) coord_->Shutdown();
    std::filesystem::remove_all(dir_);
  }
  void Start(const std::string& token = "") {
    CoordinatorConfig c;
    c.db_path = (dir_ / "kvfunda.db").string();
    c.grpc_address = "127.0.0.1:0";
    c.http_port = 0;
    c.auth_token = token;
    c.watch_poll_ms = 20;
    coord_ = std::make_unique<Coordinator>(c, clock_);
    Status s = coord_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_GT(coord_->grpc_port(), 0);
    ASSERT_GT(coord_->http_port(), 0);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(coord_->grpc_port()),
                                       grpc::InsecureChannelCredentials());
    sweeps_ = v1::SweepService::NewStub(channel);
    workers_ = v1::WorkerService::NewStub(channel);
  }
  std::string Spec(int limit) const {
    return nlohmann::json{{"name", "rpc"},
                          {"models", {{{"id", "m"}, {"path", model_}, {"type", "base"}}}},
                          {"methods", {"streamingllm"}},
                          {"ratios", {0.5}},
                          {"tasks", {{{"name", "fidelity"}, {"shots", {0}}}}},
                          {"limit", limit},
                          {"shard_size", 4}}
        .dump();
  }
  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  std::filesystem::path dir_;
  std::string model_;
  SystemClock clock_;
  std::unique_ptr<Coordinator> coord_;
  std::unique_ptr<v1::SweepService::Stub> sweeps_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

TEST_F(CoordinatorServerTest, BadSpecIsInvalidArgumentAndQueuesNothing) {
  Start();
  v1::SubmitSweepRequest req;
  req.set_spec_text(R"({"name": "x", "models": [], "ratios": [1.5]})");
  req.set_spec_name("bad.json");
  v1::SubmitSweepReply reply;
  grpc::Status s = sweeps_->SubmitSweep(Ctx().get(), req, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(s.error_message().empty());
  v1::ListSweepsReply list;
  ASSERT_TRUE(sweeps_->ListSweeps(Ctx().get(), {}, &list).ok());
  EXPECT_EQ(list.sweeps_size(), 0);
  v1::GetSweepRequest get;
  get.set_sweep_id("1");
  v1::SweepStatus st;
  EXPECT_EQ(sweeps_->GetSweep(Ctx().get(), get, &st).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CoordinatorServerTest, AWorkerRunsASweepToTheEnd) {
  Start();
  v1::SubmitSweepRequest req;
  req.set_spec_text(Spec(8));
  v1::SubmitSweepReply sub;
  grpc::Status s = sweeps_->SubmitSweep(Ctx().get(), req, &sub);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(sub.cells(), 2);
  EXPECT_EQ(sub.shards(), 2);
  EXPECT_EQ(sub.results_expected(), 16);

  // Watch from another thread while the worker works.
  std::vector<v1::SweepEvent> events;
  std::thread watcher([&] {
    v1::WatchSweepRequest w;
    w.set_sweep_id(sub.sweep_id());
    auto ctx = Ctx();
    auto reader = sweeps_->WatchSweep(ctx.get(), w);
    v1::SweepEvent ev;
    while (reader->Read(&ev)) events.push_back(ev);
    EXPECT_TRUE(reader->Finish().ok());
  });

  v1::RegisterRequest reg;
  reg.set_name("test:cpu");
  reg.set_device("cpu");
  v1::RegisterReply worker;
  ASSERT_TRUE(workers_->Register(Ctx().get(), reg, &worker).ok());
  EXPECT_FALSE(worker.worker_id().empty());
  EXPECT_GT(worker.lease_ms(), 0);

  int shards = 0;
  while (true) {
    v1::LeaseRequest lr;
    lr.set_worker_id(worker.worker_id());
    v1::LeaseReply lease;
    ASSERT_TRUE(workers_->Lease(Ctx().get(), lr, &lease).ok());
    if (!lease.has_shard()) {
      EXPECT_GT(lease.retry_after_ms(), 0);
      break;
    }
    const v1::ShardAssignment& a = lease.shard();
    v1::HeartbeatRequest hb;
    hb.set_worker_id(worker.worker_id());
    hb.set_lease_id(a.lease_id());
    hb.set_samples_done(1);
    v1::HeartbeatReply hbr;
    ASSERT_TRUE(workers_->Heartbeat(Ctx().get(), hb, &hbr).ok());
    EXPECT_TRUE(hbr.lease_valid());
    EXPECT_FALSE(hbr.reregister());
    v1::ReportResultsRequest rep = testing::AsRequest(MissingRows(a));
    rep.set_worker_id(worker.worker_id());
    rep.set_lease_id(a.lease_id());
    v1::ReportResultsReply rr;
    ASSERT_TRUE(workers_->ReportResults(Ctx().get(), rep, &rr).ok());
    EXPECT_EQ(rr.stored(), 8);
    v1::ReportResultsReply again;
    ASSERT_TRUE(workers_->ReportResults(Ctx().get(), rep, &again).ok());
    EXPECT_EQ(again.duplicates(), 8);
    v1::CompleteShardRequest cr;
    cr.set_worker_id(worker.worker_id());
    cr.set_lease_id(a.lease_id());
    v1::CompleteShardReply done;
    ASSERT_TRUE(workers_->CompleteShard(Ctx().get(), cr, &done).ok());
    EXPECT_TRUE(done.accepted()) << done.message();
    ++shards;
  }
  EXPECT_EQ(shards, 2);
  watcher.join();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().status().state(), v1::SWEEP_DONE);
  EXPECT_EQ(events.back().status().results_stored(), 16);

  v1::GetSweepRequest get;
  get.set_sweep_id(sub.sweep_id());
  v1::SweepResults results;
  ASSERT_TRUE(sweeps_->GetResults(Ctx().get(), get, &results).ok());
  EXPECT_EQ(results.status().state(), v1::SWEEP_DONE);
  ASSERT_EQ(results.cells_size(), 2);
  EXPECT_EQ(results.cells(0).cell().method(), "full");
  EXPECT_EQ(results.cells(1).samples_stored(), 8);
  EXPECT_DOUBLE_EQ(results.cells(1).metric_means().at("kl_mean"), 0.25);

  // The same sweep again is served entirely from the store.
  v1::SubmitSweepReply again;
  ASSERT_TRUE(sweeps_->SubmitSweep(Ctx().get(), req, &again).ok());
  EXPECT_EQ(again.results_reused(), 16);

  // HTTP: health, the sweep list, one sweep, the dashboard page.
  httplib::Client http("127.0.0.1", coord_->http_port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto list = http.Get("/api/sweeps");
  ASSERT_TRUE(list);
  auto j = nlohmann::json::parse(list->body);
  ASSERT_EQ(j["sweeps"].size(), 2u);
  EXPECT_EQ(j["sweeps"][0]["state"], "SWEEP_DONE");
  auto one = http.Get("/api/sweeps/" + sub.sweep_id());
  ASSERT_TRUE(one);
  EXPECT_EQ(nlohmann::json::parse(one->body)["name"], "rpc");
  EXPECT_EQ(http.Get("/api/sweeps/99")->status, 404);
  auto cells = http.Get("/api/sweeps/" + sub.sweep_id() + "/cells");
  ASSERT_TRUE(cells);
  EXPECT_EQ(nlohmann::json::parse(cells->body)["cells"].size(), 2u);
  auto page = http.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("/api/sweeps"), std::string::npos);
  auto ev = http.Get("/api/events?sweep=" + sub.sweep_id());
  ASSERT_TRUE(ev);
  EXPECT_FALSE(nlohmann::json::parse(ev->body)["events"].empty());
}

TEST_F(CoordinatorServerTest, UnknownWorkersAreToldToRegister) {
  Start();
  v1::LeaseRequest lr;
  lr.set_worker_id("w404");
  v1::LeaseReply lease;
  EXPECT_EQ(workers_->Lease(Ctx().get(), lr, &lease).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::HeartbeatRequest hb;
  hb.set_worker_id("w404");
  v1::HeartbeatReply hbr;
  ASSERT_TRUE(workers_->Heartbeat(Ctx().get(), hb, &hbr).ok());
  EXPECT_TRUE(hbr.reregister());
}

TEST_F(CoordinatorServerTest, BearerTokenIsRequiredWhenConfigured) {
  Start("s3cret");
  v1::ListSweepsReply list;
  EXPECT_EQ(sweeps_->ListSweeps(Ctx().get(), {}, &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(sweeps_->ListSweeps(Ctx("wrong!").get(), {}, &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::RegisterReply r;
  EXPECT_EQ(workers_->Register(Ctx().get(), {}, &r).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(sweeps_->ListSweeps(Ctx("s3cret").get(), {}, &list).ok());
  EXPECT_TRUE(workers_->Register(Ctx("s3cret").get(), {}, &r).ok());
}

TEST_F(CoordinatorServerTest, RestartKeepsSweepsAndWorkers) {
  Start();
  v1::SubmitSweepRequest req;
  req.set_spec_text(Spec(4));
  v1::SubmitSweepReply sub;
  ASSERT_TRUE(sweeps_->SubmitSweep(Ctx().get(), req, &sub).ok());
  v1::RegisterReply worker;
  ASSERT_TRUE(workers_->Register(Ctx().get(), {}, &worker).ok());
  coord_->Shutdown();
  coord_.reset();
  Start();
  v1::GetSweepRequest get;
  get.set_sweep_id(sub.sweep_id());
  v1::SweepStatus st;
  ASSERT_TRUE(sweeps_->GetSweep(Ctx().get(), get, &st).ok());
  EXPECT_EQ(st.shards_pending(), 1);
  v1::LeaseRequest lr;
  lr.set_worker_id(worker.worker_id());
  v1::LeaseReply lease;
  ASSERT_TRUE(workers_->Lease(Ctx().get(), lr, &lease).ok());
  EXPECT_TRUE(lease.has_shard());
}

}  // namespace
}  // namespace kvfunda
