// A test-only probe of heap allocation sizes: this test binary replaces the
// global operator new to remember the largest single request since Reset(), so
// the corruption tests can check that a corrupt count never turns into a huge
// allocation.
#pragma once

#include <cstddef>

namespace kvfunda::testing {

// Starts a new measurement window.
void ResetLargestAllocation();
// Largest operator new request (bytes) since the last reset.
size_t LargestAllocation();

}  // namespace kvfunda::testing
