#include "coordinator/core/result_writer.h"

#include "coordinator/base/log.h"

namespace kvfunda {
namespace {

Status Apply(WriteTxn& txn, const WriteBatch& b, std::vector<bool>& inserted) {
  if (b.extra) KVF_RETURN_IF_ERROR(b.extra(txn));
  inserted.assign(b.results.size(), false);
  for (size_t i = 0; i < b.results.size(); ++i) {
    KVF_ASSIGN_OR_RETURN(bool fresh, txn.InsertResult(b.results[i]));
    inserted[i] = fresh;
  }
  for (const ShardRow& s : b.shards) {
    KVF_RETURN_IF_ERROR(txn.UpsertShard(s).WithContext("updating shard " + std::to_string(s.id)));
  }
  for (const auto& c : b.sweep_states) {
    KVF_RETURN_IF_ERROR(txn.UpdateSweepState(c.sweep_id, c.state, c.now_ms));
  }
  for (const WorkerRow& w : b.workers) KVF_RETURN_IF_ERROR(txn.UpsertWorker(w));
  for (const auto& h : b.heartbeats) {
    KVF_RETURN_IF_ERROR(txn.UpdateWorkerHeartbeat(h.worker_id, h.now_ms));
  }
  for (const EventRow& e : b.events) KVF_RETURN_IF_ERROR(txn.InsertEvent(e));
  return Status::Ok();
}

}  // namespace

ResultWriter::ResultWriter(Store& store) : store_(store) {
  thread_ = std::thread([this] { Run(); });
}

ResultWriter::~ResultWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::future<WriteOutcome> ResultWriter::Submit(WriteBatch batch) {
  Item item;
  item.batch = std::move(batch);
  item.wait = true;
  std::future<WriteOutcome> f = item.promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(item));
  }
  cv_.notify_one();
  return f;
}

void ResultWriter::Post(WriteBatch batch) {
  if (batch.empty()) return;
  Item item;
  item.batch = std::move(batch);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(item));
  }
  cv_.notify_one();
}

Status ResultWriter::Flush() { return Submit(WriteBatch{}).get().status; }

ResultWriter::Stats ResultWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ResultWriter::Run() {
  std::vector<Item> items;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      items.clear();
      while (!queue_.empty()) {
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    Commit(items);
  }
}

void ResultWriter::Commit(std::vector<Item>& items) {
  std::vector<WriteOutcome> outcomes(items.size());
  Status txn_status = store_.Write([&](WriteTxn& txn) -> Status {
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].batch.empty()) continue;
      outcomes[i].status =
          txn.Savepoint([&] { return Apply(txn, items[i].batch, outcomes[i].inserted); });
      if (!outcomes[i].status.ok() && !txn.active()) {
        // SQLite rolled the whole transaction back: every batch is lost.
        return outcomes[i].status;
      }
    }
    return Status::Ok();
  });
  int64_t inserted = 0, failed = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    WriteOutcome& o = outcomes[i];
    if (!txn_status.ok()) {
      if (o.status.ok()) o.status = txn_status;
    }
    if (!o.status.ok()) {
      o.inserted.assign(items[i].batch.results.size(), false);
      ++failed;
      if (!items[i].wait) KVF_LOG(kError) << "store write failed: " << o.status.ToString();
    } else {
      for (bool b : o.inserted) inserted += b ? 1 : 0;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.transactions;
    stats_.batches += static_cast<int64_t>(items.size());
    stats_.failed_batches += failed;
    stats_.results_inserted += inserted;
  }
  for (size_t i = 0; i < items.size(); ++i) items[i].promise.set_value(std::move(outcomes[i]));
}

}  // namespace kvfunda
