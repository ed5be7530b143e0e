// KvCache: per-layer keys and values of one sequence, ragged per KV head.
//
// Keys are stored with RoPE already applied, at their original positions (a
// compressed cache keeps positions; nothing is re-rotated). Each layer holds
// k, v of shape [n_kv_heads, capacity, head_dim]; entries [0, length[h]) of head h
// are valid. A compressed cache is a new, compact KvCache that holds only the kept
// entries (really freed, not masked), plus room for the tokens still to decode.
// Entries past length[h] are ignored by attention but must be finite (builders
// zero-fill them): a masked probability of 0 times a NaN value is still NaN.
//
// Threading: thread-compatible; one sequence is decoded by one thread.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace kvfunda {

struct LayerKv {
  at::Tensor k;                 // [n_kv_heads, capacity, head_dim]
  at::Tensor v;                 // [n_kv_heads, capacity, head_dim]
  std::vector<int32_t> length;  // [n_kv_heads] valid entries per head
};

class KvCache {
 public:
  std::vector<LayerKv> layers;
  // Position (RoPE index) the next appended token gets: prompt length + tokens decoded.
  int64_t next_position = 0;

  // Bytes of the allocated k and v storage over all layers (what is really held).
  int64_t BytesAllocated() const;
  // Bytes of the valid entries only.
  int64_t BytesValid() const;
  // Largest BytesAllocated() seen (updated by NotePeak()).
  int64_t peak_bytes() const { return peak_bytes_; }
  void NotePeak();
  // A deep copy (new k/v storage), e.g. to decode the full cache of one prefill
  // in several cells. The copy's peak starts at its own BytesAllocated().
  KvCache Clone() const;

 private:
  int64_t peak_bytes_ = 0;
};

}  // namespace kvfunda
