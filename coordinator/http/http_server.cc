#include "coordinator/http/http_server.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "coordinator/base/embedded.h"

namespace kvfunda {
namespace {

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

void Error(httplib::Response& res, int code, const std::string& message) {
  res.status = code;
  res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
}

int HttpCode(const Status& s) {
  switch (s.code()) {
    case Status::Code::kNotFound: return 404;
    case Status::Code::kBadInput:
    case Status::Code::kInvalidArgument: return 400;
    case Status::Code::kIo:
    case Status::Code::kTransient: return 503;
    default: return 500;
  }
}

std::string ContentType(const std::string& name) {
  auto ends = [&](const char* suffix) {
    std::string s(suffix);
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

const embedded::EmbeddedFile* FindAsset(const std::string& name) {
  const embedded::EmbeddedFile* files = embedded::dashboard_files();
  for (size_t i = 0; i < embedded::dashboard_count(); ++i) {
    if (name == files[i].name) return &files[i];
  }
  return nullptr;
}

int64_t ParamInt(const httplib::Request& req, const char* key, int64_t fallback) {
  if (!req.has_param(key)) return fallback;
  try {
    return std::stoll(req.get_param_value(key));
  } catch (...) {
    return fallback;
  }
}

}  // namespace

HttpServer::HttpServer(SweepManager& sweeps, WorkerRegistry& workers, Store& store)
    : sweeps_(sweeps), workers_(workers), store_(store),
      server_(std::make_unique<httplib::Server>()) {
  Routes();
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Routes() {
  httplib::Server& s = *server_;
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/api/sweeps", [this](const httplib::Request&, httplib::Response& res) {
    v1::ListSweepsReply reply;
    for (v1::SweepStatus& st : sweeps_.List()) *reply.add_sweeps() = std::move(st);
    res.set_content(ToJson(reply), "application/json");
  });
  s.Get(R"(/api/sweeps/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Result<v1::SweepStatus> st = sweeps_.Get(req.matches[1]);
    if (!st.ok()) return Error(res, HttpCode(st.status()), st.status().message());
    res.set_content(ToJson(*st), "application/json");
  });
  s.Get(R"(/api/sweeps/([^/]+)/cells)", [this](const httplib::Request& req,
                                               httplib::Response& res) {
    Result<int64_t> id = SweepManager::ParseSweepId(req.matches[1]);
    if (!id.ok()) return Error(res, 404, id.status().message());
    Result<std::vector<CellSummaryRow>> rows = store_.SummarizeSweep(*id);
    if (!rows.ok()) return Error(res, HttpCode(rows.status()), rows.status().message());
    nlohmann::json out = nlohmann::json::array();
    for (const CellSummaryRow& r : *rows) {
      out.push_back({{"cell_id", r.cell.cell_id},
                     {"model_id", r.model_id},
                     {"method", r.cell.method},
                     {"params", nlohmann::json::parse(r.cell.params_json, nullptr, false)},
                     {"ratio", r.cell.ratio},
                     {"task", r.cell.task},
                     {"shots", r.cell.shots},
                     {"samples_expected", r.samples_expected},
                     {"samples_stored", r.samples_stored},
                     {"score_mean", r.score_mean},
                     {"kv_bytes_final_mean", r.kv_bytes_final_mean},
                     {"prefill_ms_mean", r.prefill_ms_mean},
                     {"decode_ms_mean", r.decode_ms_mean}});
    }
    res.set_content(nlohmann::json{{"cells", out}}.dump(), "application/json");
  });
  s.Get("/api/workers", [this](const httplib::Request&, httplib::Response& res) {
    nlohmann::json out = nlohmann::json::array();
    for (const WorkerInfo& w : workers_.List()) {
      out.push_back({{"id", w.row.id},
                     {"name", w.row.name},
                     {"host", w.row.host},
                     {"device", w.row.device},
                     {"memory_bytes", w.row.memory_bytes},
                     {"registered_ms", w.row.registered_ms},
                     {"last_heartbeat_ms", w.row.last_heartbeat_ms},
                     {"alive", w.alive}});
    }
    res.set_content(nlohmann::json{{"workers", out}}.dump(), "application/json");
  });
  s.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) {
    std::optional<int64_t> sweep;
    if (req.has_param("sweep")) sweep = ParamInt(req, "sweep", 0);
    Result<std::vector<EventRow>> events =
        store_.Events(sweep, ParamInt(req, "after", 0),
                      static_cast<int>(std::clamp<int64_t>(ParamInt(req, "limit", 200), 1, 5000)));
    if (!events.ok()) return Error(res, HttpCode(events.status()), events.status().message());
    nlohmann::json out = nlohmann::json::array();
    for (const EventRow& e : *events) {
      out.push_back({{"id", e.id},
                     {"ts_ms", e.ts_ms},
                     {"sweep_id", e.sweep_id ? nlohmann::json(*e.sweep_id) : nlohmann::json()},
                     {"kind", e.kind},
                     {"message", e.message}});
    }
    res.set_content(nlohmann::json{{"events", out}}.dump(), "application/json");
  });
  s.Get(R"(/([A-Za-z0-9_.-]*))", [](const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1];
    if (name.empty()) name = "index.html";
    const embedded::EmbeddedFile* f = FindAsset(name);
    if (!f) return Error(res, 404, "no such page: /" + name);
    res.set_content(std::string(f->view()), ContentType(name));
  });
}

Result<int> HttpServer::Start(const std::string& host, int port) {
  int bound = port;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
    if (bound < 0) return Status::Io("cannot bind the HTTP server to " + host);
  } else if (!server_->bind_to_port(host, port)) {
    return Status::Io("cannot bind the HTTP server to " + host + ":" + std::to_string(port) +
                      " (in use?)");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // cpp-httplib 0.11 has no wait_until_ready(): poll is_running().
  for (int i = 0; i < 500 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return bound;
}

void HttpServer::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace kvfunda
