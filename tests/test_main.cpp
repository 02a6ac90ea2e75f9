#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/runtime.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  sola::configure_threads();
  torch::manual_seed(0);
  return RUN_ALL_TESTS();
}
