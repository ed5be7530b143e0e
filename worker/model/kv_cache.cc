#include "worker/model/kv_cache.h"

#include <algorithm>

namespace kvfunda {

int64_t KvCache::BytesAllocated() const {
  int64_t bytes = 0;
  for (const LayerKv& layer : layers) {
    if (layer.k.defined()) bytes += static_cast<int64_t>(layer.k.nbytes());
    if (layer.v.defined()) bytes += static_cast<int64_t>(layer.v.nbytes());
  }
  return bytes;
}

int64_t KvCache::BytesValid() const {
  int64_t bytes = 0;
  for (const LayerKv& layer : layers) {
    if (!layer.k.defined() || layer.k.dim() != 3) continue;
    const int64_t row_bytes = layer.k.size(2) * static_cast<int64_t>(layer.k.element_size());
    int64_t rows = 0;
    for (int32_t len : layer.length) rows += len;
    bytes += 2 * rows * row_bytes;  // k and v
  }
  return bytes;
}

void KvCache::NotePeak() { peak_bytes_ = std::max(peak_bytes_, BytesAllocated()); }

KvCache KvCache::Clone() const {
  KvCache copy;
  copy.next_position = next_position;
  copy.layers.reserve(layers.size());
  for (const LayerKv& layer : layers) {
    LayerKv l;
    if (layer.k.defined()) l.k = layer.k.clone();
    if (layer.v.defined()) l.v = layer.v.clone();
    l.length = layer.length;
    copy.layers.push_back(std::move(l));
  }
  copy.NotePeak();
  return copy;
}

}  // namespace kvfunda
