// A program of a downstream project: the public header alone, no sola source folder on the path.
#include <iostream>

#include <sola/sola.h>

int main() {
  auto model = sola::build_model(sola::ModelOptions{}.input_size(64).grid(8));
  model->eval();
  torch::NoGradGuard no_grad;
  auto out = model->forward(torch::rand({1, 3, 64, 64}));
  std::cout << "sola " << SOLA_VERSION << ": logit " << out.logit.sizes() << ", second order "
            << out.second_order.sizes() << ", " << sola::count_parameters(*model).total << " parameters\n";
  return out.second_order.sizes() == torch::IntArrayRef({1, 4, 8, 8}) ? 0 : 1;
}
