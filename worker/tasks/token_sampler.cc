#include "worker/tasks/token_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace kvfunda {
namespace {

uint64_t Mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) from the top 53 bits (same on every platform, unlike
// std::uniform_real_distribution).
double Uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace

uint64_t DeriveSeed(uint64_t seed, uint64_t stream, uint64_t salt) {
  return Mix64(Mix64(seed ^ Mix64(salt)) ^ Mix64(stream + 0x632BE59BD9B4E019ull));
}

int32_t TokenSampler::Choose(std::span<const double> logits, std::mt19937_64& rng) const {
  const size_t vocab = logits.size();
  size_t best = 0;
  for (size_t i = 1; i < vocab; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  if (greedy()) return static_cast<int32_t>(best);

  // Probabilities at the temperature, relative to the maximum (stable softmax).
  const double max_logit = logits[best];
  std::vector<double> prob(vocab);
  double total = 0;
  for (size_t i = 0; i < vocab; ++i) {
    prob[i] = std::isfinite(logits[i]) ? std::exp((logits[i] - max_logit) / temperature_) : 0.0;
    total += prob[i];
  }
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return prob[a] > prob[b]; });
  // The nucleus: the shortest prefix of `order` whose mass reaches top_p.
  size_t kept = 0;
  double mass = 0;
  while (kept < vocab && prob[order[kept]] > 0) {
    mass += prob[order[kept]];
    ++kept;
    if (mass >= top_p_ * total) break;
  }
  const double target = Uniform01(rng) * mass;
  double running = 0;
  for (size_t i = 0; i < kept; ++i) {
    running += prob[order[i]];
    if (target < running) return order[i];
  }
  return order[kept - 1];  // rounding left target == mass
}

}  // namespace kvfunda
