#include "model/export.h"

#include <fstream>
#include <stdexcept>

#include <ATen/core/Dict.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/atomic_file.h"

namespace sola {

void export_state_dict(const std::string& path, DetectorImpl& model) {
  c10::Dict<std::string, torch::Tensor> state;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    // A fresh CPU copy: its storage holds exactly its elements, and no autograd flag is stored.
    state.insert(name, t.detach().to(torch::kCPU).clone(torch::MemoryFormat::Contiguous));
  };
  for (const auto& p : model.named_parameters(/*recurse=*/true)) add(p.key(), p.value());
  for (const auto& b : model.named_buffers(/*recurse=*/true)) add(b.key(), b.value());

  c10::impl::GenericDict file(c10::StringType::get(), c10::AnyType::get());
  file.insert(std::string("format"), std::string(kExportFormat));
  file.insert(std::string("config"), to_json(model.options()).dump());
  file.insert(std::string("state_dict"), state);

  // What Python's torch.save writes: a pickle (protocol 2) in data.pkl whose tensors refer to their
  // storages data/0, data/1, ... of the same zip archive. Unlike torch::pickle_save, no TorchScript
  // type tags (torch.jit._pickle.restore_type_tag) around the dicts, so the file holds nothing but
  // dicts, strings and tensors and also loads under torch.load(weights_only=True), the default of
  // PyTorch >= 2.6.
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* data, size_t n) { pickle.insert(pickle.end(), data, data + n); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
                              /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(file);
  pickler.stop();

  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot open " + tmp + " for writing");
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) -> size_t {
      out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
      return out ? n : 0;
    });
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeRecord("byteorder", "little", 6);
    const auto& tensors = pickler.tensorData();  // storage i is the i-th tensor's
    for (size_t i = 0; i < tensors.size(); ++i) {
      const c10::Storage& storage = tensors[i].storage();
      const void* bytes = storage.data();
      writer.writeRecord("data/" + std::to_string(i), bytes, storage.nbytes());
    }
    writer.writeEndOfFile();
    out.flush();
    if (!out) throw std::runtime_error("writing " + tmp + " failed (disk full?)");
  });
}

}  // namespace sola
