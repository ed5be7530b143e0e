// TokenSampler: chooses the next token from a row of logits — greedy, or seeded
// temperature + top-p (nucleus) sampling — and derives per-stream seeds.
//
// Used by the shard evaluator (every cell of a sample draws from its own RNG
// seeded alike, so a cell that sees the same logits as the full cache draws the
// same tokens) and by tasks that write prompts with the model (fidelity).
// Threading: a TokenSampler is immutable; the RNG passed in is owned by the caller.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace kvfunda {

// A well-mixed 64-bit seed for stream `stream` of `seed` under `salt` (splitmix64
// finaliser). Different (seed, stream, salt) give unrelated seeds.
uint64_t DeriveSeed(uint64_t seed, uint64_t stream, uint64_t salt);

class TokenSampler {
 public:
  // temperature 0 = greedy. REQUIRES: temperature >= 0, 0 < top_p <= 1.
  TokenSampler(double temperature, double top_p) : temperature_(temperature), top_p_(top_p) {}

  // The next token for `logits` [vocab] (raw, unnormalised; -inf = banned).
  // Greedy: the arg-max, lowest id on ties; `rng` is not used. Sampling: softmax
  // of logits / temperature restricted to the smallest set of most probable tokens
  // whose mass reaches top_p (ties broken by lower id), one draw from `rng`.
  // REQUIRES: logits non-empty with at least one finite value.
  int32_t Choose(std::span<const double> logits, std::mt19937_64& rng) const;

  bool greedy() const { return temperature_ <= 0; }

 private:
  const double temperature_;
  const double top_p_;
};

}  // namespace kvfunda
