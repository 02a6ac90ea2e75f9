#pragma once
// sola: Second Order Local Anomaly face-forgery detection (Fei et al., CVPR 2022) in LibTorch.
//
// The one header a program needs:
//
//   #include <sola/sola.h>
//   sola::configure_threads();                          // LibTorch defaults to one thread
//   auto model = sola::build_model(sola::ModelOptions{}.grid(16));
//   auto out = model->forward(images);                  // images: [B, 3, 256, 256] RGB in [0, 1]
//   auto score = torch::sigmoid(out.logit);             // forgery probability per image
//   out.second_order;                                   // [B, 4, 16, 16] local anomaly maps
//
//   sola::save_model("m.pt", *model);  auto loaded = sola::load_model("m.pt");
#include "core/error.h"
#include "core/runtime.h"
#include "model/checkpoint.h"
#include "model/flops.h"
#include "model/options.h"
#include "model/sola_net.h"
