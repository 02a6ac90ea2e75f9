#include "model/pretrained.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/json_diff.h"
#include "model/checkpoint.h"

namespace sola {
namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string shape_text(c10::IntArrayRef sizes) {
  std::ostringstream os;
  os << sizes;
  return os.str();
}

// ---- a minimal unpickler for what torch.save writes ----------------------------------------
//
// LibTorch's own unpickler (torch::pickle_load) turns collections.OrderedDict into None, so it
// cannot read `model.state_dict()` files. This one understands the pickle opcodes of protocols
// 2-5 that appear in such files, builds dicts (plain or ordered), lists, tuples and scalars, and
// rebuilds tensors from the storages in the zip archive. Anything else (a pickled class other
// than the tensor helpers) is an error naming the class. Errors are std::runtime_error; the
// caller adds the path.

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Tensor };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                                    ///< String; Global: "module.name"
  std::vector<ValuePtr> items;                      ///< Tuple, List
  std::vector<std::pair<ValuePtr, ValuePtr>> dict;  ///< Dict, insertion order
  torch::Tensor tensor;                             ///< Tensor; also a storage (1-D, its dtype)

  static ValuePtr make(Kind k) {
    auto v = std::make_shared<Value>();
    v->kind = k;
    return v;
  }
};

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "a bool";
    case Value::Kind::Int: return "an int";
    case Value::Kind::Float: return "a float";
    case Value::Kind::String: return "a string";
    case Value::Kind::Tuple: return "a tuple";
    case Value::Kind::List: return "a list";
    case Value::Kind::Dict: return "a dict";
    case Value::Kind::Global: return "a class or function";
    case Value::Kind::Tensor: return "a tensor";
  }
  return "?";
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

int64_t as_int(const ValuePtr& v, const char* what) {
  if (v->kind == Value::Kind::Int) return v->i;
  if (v->kind == Value::Kind::Bool) return v->b;
  fail(std::string(what) + " should be an int, is " + kind_name(v->kind));
}

const std::vector<ValuePtr>& as_tuple(const ValuePtr& v, const char* what) {
  if (v->kind != Value::Kind::Tuple && v->kind != Value::Kind::List)
    fail(std::string(what) + " should be a tuple, is " + kind_name(v->kind));
  return v->items;
}

std::vector<int64_t> int_list(const ValuePtr& v, const char* what) {
  std::vector<int64_t> out;
  for (const auto& x : as_tuple(v, what)) out.push_back(as_int(x, what));
  return out;
}

/// The dtype of a storage class as torch.save names it (torch.FloatStorage, torch.cuda.HalfStorage, ...).
c10::ScalarType storage_dtype(const std::string& qualified) {
  const std::string name = qualified.substr(qualified.rfind('.') + 1);
  static const std::map<std::string, c10::ScalarType> types{
      {"FloatStorage", torch::kFloat},   {"DoubleStorage", torch::kDouble},     {"HalfStorage", torch::kHalf},
      {"BFloat16Storage", torch::kBFloat16}, {"LongStorage", torch::kLong},     {"IntStorage", torch::kInt},
      {"ShortStorage", torch::kShort},   {"CharStorage", torch::kChar},         {"ByteStorage", torch::kByte},
      {"BoolStorage", torch::kBool},     {"UntypedStorage", torch::kByte}};
  auto it = types.find(name);
  if (it == types.end()) fail("unsupported storage type " + qualified);
  return it->second;
}

class Unpickler {
 public:
  /// `load_storage(key, dtype, numel)` returns the storage `key` of the archive as a 1-D tensor.
  using StorageLoader = std::function<torch::Tensor(const std::string&, c10::ScalarType, int64_t)>;

  Unpickler(const char* data, size_t size, StorageLoader load_storage)
      : data_(data), size_(size), load_storage_(std::move(load_storage)) {}

  ValuePtr parse() {
    while (true) {
      const size_t at = pos_;
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;           // PROTO
        case 0x95: bytes(8); break;         // FRAME
        case '.':                           // STOP
          if (stack_.size() != 1) fail("malformed pickle: STOP with " + std::to_string(stack_.size()) + " values");
          return stack_.back();
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(); break;                             // POP
        case '1': pop_mark(); break;                        // POP_MARK
        case '2': push(top()); break;                       // DUP
        case 'N': push(Value::make(Value::Kind::None)); break;
        case 0x88: push_bool(true); break;   // NEWTRUE
        case 0x89: push_bool(false); break;  // NEWFALSE
        case 'J': push_int(static_cast<int32_t>(uint_le(4))); break;  // BININT
        case 'K': push_int(static_cast<int64_t>(uint_le(1))); break;  // BININT1
        case 'M': push_int(static_cast<int64_t>(uint_le(2))); break;  // BININT2
        case 0x8a: push_int(long_le(uint_le(1))); break;              // LONG1
        case 0x8b: push_int(long_le(uint_le(4))); break;              // LONG4
        case 'G': {                                                   // BINFLOAT (big-endian)
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | byte();
          auto v = Value::make(Value::Kind::Float);
          std::memcpy(&v->f, &bits, sizeof bits);
          push(v);
          break;
        }
        case 'X': push_string(bytes(uint_le(4))); break;     // BINUNICODE
        case 0x8c: push_string(bytes(uint_le(1))); break;    // SHORT_BINUNICODE
        case 0x8d: push_string(bytes(uint_le(8))); break;    // BINUNICODE8
        case 'T': push_string(bytes(uint_le(4))); break;     // BINSTRING
        case 'U': push_string(bytes(uint_le(1))); break;     // SHORT_BINSTRING
        case 'B': push_string(bytes(uint_le(4))); break;     // BINBYTES
        case 'C': push_string(bytes(uint_le(1))); break;     // SHORT_BINBYTES
        case ')': push(Value::make(Value::Kind::Tuple)); break;  // EMPTY_TUPLE
        case 't': push_tuple(pop_mark()); break;                 // TUPLE
        case 0x85: push_tuple(pop_n(1)); break;                  // TUPLE1
        case 0x86: push_tuple(pop_n(2)); break;                  // TUPLE2
        case 0x87: push_tuple(pop_n(3)); break;                  // TUPLE3
        case ']': push(Value::make(Value::Kind::List)); break;   // EMPTY_LIST
        case 'l': {                                              // LIST
          auto v = Value::make(Value::Kind::List);
          v->items = pop_mark();
          push(v);
          break;
        }
        case 'a': {  // APPEND
          auto item = pop();
          list_target(top())->items.push_back(item);
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_mark();
          auto& list = list_target(top())->items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case '}': push(Value::make(Value::Kind::Dict)); break;  // EMPTY_DICT
        case 'd': {                                             // DICT
          auto v = Value::make(Value::Kind::Dict);
          set_items(*v, pop_mark());
          push(v);
          break;
        }
        case 's': {  // SETITEM
          auto value = pop();
          auto key = pop();
          set_items(*dict_target(top()), {key, value});
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_mark();
          set_items(*dict_target(top()), items);
          break;
        }
        case 'q': memo_[uint_le(1)] = top(); break;  // BINPUT
        case 'r': memo_[uint_le(4)] = top(); break;  // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case 'h': push(memo(uint_le(1))); break;        // BINGET
        case 'j': push(memo(uint_le(4))); break;        // LONG_BINGET
        case 'c': {                                     // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          push_global(module, name);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop(), module = pop();
          if (name->kind != Value::Kind::String || module->kind != Value::Kind::String)
            fail("malformed pickle: STACK_GLOBAL needs two strings");
          push_global(module->s, name->s);
          break;
        }
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 'R': {                                     // REDUCE
          auto args = pop();
          auto callable = pop();
          push(call(callable, args));
          break;
        }
        case 0x81: {  // NEWOBJ
          auto args = pop();
          auto cls = pop();
          push(call(cls, args));
          break;
        }
        case 'b': {  // BUILD: object state; an OrderedDict's is its _metadata, not needed here
          auto state = pop();
          const auto k = top()->kind;
          if (k != Value::Kind::Dict && k != Value::Kind::Tensor)
            fail(std::string("cannot set the state of ") + kind_name(k));
          break;
        }
        default: {
          std::ostringstream os;
          os << "unsupported pickle opcode 0x" << std::hex << static_cast<int>(op) << std::dec << " at byte " << at;
          fail(os.str());
        }
      }
    }
  }

 private:
  uint8_t byte() {
    if (pos_ >= size_) fail("pickle data ends early (truncated?)");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  std::string bytes(uint64_t n) {
    if (n > size_ - pos_) fail("pickle data ends early (truncated?)");
    std::string s(data_ + pos_, n);
    pos_ += n;
    return s;
  }
  uint64_t uint_le(int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; ++k) v |= static_cast<uint64_t>(byte()) << (8 * k);
    return v;
  }
  /// Two's-complement little-endian integer of `n` bytes (LONG1 / LONG4).
  int64_t long_le(uint64_t n) {
    if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit 64 bits");
    if (n == 0) return 0;
    uint64_t v = uint_le(static_cast<int>(n));
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  std::string line() {
    std::string s;
    for (char c; (c = static_cast<char>(byte())) != '\n';) s += c;
    return s;
  }

  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  void push_bool(bool b) {
    auto v = Value::make(Value::Kind::Bool);
    v->b = b;
    push(v);
  }
  void push_int(int64_t i) {
    auto v = Value::make(Value::Kind::Int);
    v->i = i;
    push(v);
  }
  void push_string(std::string s) {
    auto v = Value::make(Value::Kind::String);
    v->s = std::move(s);
    push(v);
  }
  void push_tuple(std::vector<ValuePtr> items) {
    auto v = Value::make(Value::Kind::Tuple);
    v->items = std::move(items);
    push(v);
  }
  void push_global(const std::string& module, const std::string& name) {
    auto v = Value::make(Value::Kind::Global);
    v->s = module + "." + name;
    push(v);
  }
  const ValuePtr& top() const {
    if (stack_.empty()) fail("malformed pickle: empty stack");
    return stack_.back();
  }
  ValuePtr pop() {
    auto v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<ValuePtr> pop_n(size_t n) {
    if (stack_.size() < n) fail("malformed pickle: stack underflow");
    std::vector<ValuePtr> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
    return items;
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty() || marks_.back() > stack_.size()) fail("malformed pickle: no MARK");
    const size_t mark = marks_.back();
    marks_.pop_back();
    return pop_n(stack_.size() - mark);
  }
  ValuePtr memo(uint64_t key) const {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("malformed pickle: memo key " + std::to_string(key) + " not set");
    return it->second;
  }
  static Value* list_target(const ValuePtr& v) {
    if (v->kind != Value::Kind::List) fail(std::string("cannot append to ") + kind_name(v->kind));
    return v.get();
  }
  static Value* dict_target(const ValuePtr& v) {
    if (v->kind != Value::Kind::Dict) fail(std::string("cannot set items of ") + kind_name(v->kind));
    return v.get();
  }
  /// `items` holds key, value, key, value, ...; a string key already present is replaced.
  static void set_items(Value& dict, const std::vector<ValuePtr>& items) {
    if (items.size() % 2 != 0) fail("malformed pickle: odd number of dict items");
    for (size_t k = 0; k < items.size(); k += 2) {
      bool replaced = false;
      if (items[k]->kind == Value::Kind::String)
        for (auto& [key, value] : dict.dict)
          if (key->kind == Value::Kind::String && key->s == items[k]->s) {
            value = items[k + 1];
            replaced = true;
          }
      if (!replaced) dict.dict.emplace_back(items[k], items[k + 1]);
    }
  }

  /// ('storage', storage_type, key, location, numel) -> the storage as a 1-D tensor.
  ValuePtr persistent_load(const ValuePtr& pid) {
    const auto& t = as_tuple(pid, "persistent id");
    if (t.size() < 5 || t[0]->kind != Value::Kind::String || t[0]->s != "storage" ||
        t[1]->kind != Value::Kind::Global || t[2]->kind != Value::Kind::String)
      fail("unsupported persistent id (not a tensor storage)");
    const std::string& key = t[2]->s;
    auto it = storages_.find(key);
    if (it == storages_.end()) {
      auto v = Value::make(Value::Kind::Tensor);
      v->tensor = load_storage_(key, storage_dtype(t[1]->s), as_int(t[4], "storage size"));
      it = storages_.emplace(key, v).first;
    }
    return it->second;
  }

  ValuePtr call(const ValuePtr& callable, const ValuePtr& args_value) {
    if (callable->kind != Value::Kind::Global) fail(std::string("cannot call ") + kind_name(callable->kind));
    const std::string& name = callable->s;
    const auto& args = as_tuple(args_value, "arguments");
    if (name == "collections.OrderedDict") {
      auto v = Value::make(Value::Kind::Dict);
      if (!args.empty())  // OrderedDict([(key, value), ...])
        for (const auto& pair : as_tuple(args[0], "OrderedDict items")) set_items(*v, as_tuple(pair, "OrderedDict item"));
      return v;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args.size() < 4 || args[0]->kind != Value::Kind::Tensor) fail("malformed tensor in " + name);
      return rebuild_tensor(args[0]->tensor, as_int(args[1], "storage offset"), int_list(args[2], "tensor size"),
                            int_list(args[3], "tensor stride"));
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (args.empty() || args[0]->kind != Value::Kind::Tensor) fail("malformed parameter in " + name);
      return args[0];
    }
    // LibTorch's pickler (torch::pickle_save) wraps typed containers: restore_type_tag(dict, "Dict[str, Tensor]"),
    // build_intlist([...]) and the like; the value is the first argument.
    if (name == "torch.jit._pickle.restore_type_tag" || name == "torch.jit._pickle.build_intlist" ||
        name == "torch.jit._pickle.build_doublelist" || name == "torch.jit._pickle.build_boollist" ||
        name == "torch.jit._pickle.build_tensorlist") {
      if (args.empty()) fail("malformed " + name);
      return args[0];
    }
    if (starts_with(name, "__torch__."))
      fail("is a TorchScript / LibTorch archive (holds " + name + "), not a torch.save state dict");
    fail("holds a pickled " + name + ", not just tensors and dicts (a whole pickled model? save model.state_dict())");
  }

  static ValuePtr rebuild_tensor(const torch::Tensor& storage, int64_t offset, const std::vector<int64_t>& size,
                                 const std::vector<int64_t>& stride) {
    if (size.size() != stride.size()) fail("tensor size and stride differ in length");
    int64_t last = offset;  // highest storage element the view touches
    bool empty = false;
    for (size_t d = 0; d < size.size(); ++d) {
      if (size[d] < 0 || stride[d] < 0) fail("negative tensor size or stride");
      if (size[d] == 0) empty = true;
      last += (size[d] - 1) * stride[d];
    }
    if (offset < 0 || (!empty && last >= storage.numel()))
      fail("tensor of shape " + shape_text(size) + " reaches past its storage of " + std::to_string(storage.numel()) +
           " elements");
    auto v = Value::make(Value::Kind::Tensor);
    v->tensor = torch::empty(size, storage.options());
    if (!empty) v->tensor.copy_(storage.as_strided(size, stride, offset));
    return v;
  }

  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  StorageLoader load_storage_;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::unordered_map<std::string, ValuePtr> storages_;
};

/// The tensors of a dict of tensors, or an error naming the first value that is not one.
StateDict tensors_of(const Value& dict) {
  StateDict out;
  for (const auto& [key, value] : dict.dict) {
    if (key->kind != Value::Kind::String) fail(std::string("has a key that is ") + kind_name(key->kind) + ", not a name");
    if (value->kind != Value::Kind::Tensor)
      fail("entry '" + key->s + "' is " + kind_name(value->kind) + ", not a tensor");
    out.emplace_back(key->s, value->tensor);
  }
  return out;
}

bool all_tensors(const Value& dict) {
  for (const auto& [key, value] : dict.dict)
    if (value->kind != Value::Kind::Tensor) return false;
  return true;
}

/// The top-level dict if it holds only tensors, else its "state_dict" or "model" entry (checkpoints).
StateDict state_dict_of(const Value& top) {
  if (top.kind != Value::Kind::Dict) fail(std::string("holds ") + kind_name(top.kind) + ", not a state dict");
  if (all_tensors(top)) return tensors_of(top);
  for (const char* wrapper : {"state_dict", "model"})
    for (const auto& [key, value] : top.dict)
      if (key->kind == Value::Kind::String && key->s == wrapper && value->kind == Value::Kind::Dict)
        return tensors_of(*value);
  try {
    return tensors_of(top);  // throws, naming the first entry that is not a tensor
  } catch (const std::exception& e) {
    fail(std::string("holds no state dict (a dict of tensors, or one under 'state_dict' or 'model'): ") + e.what());
  }
}

// ---- copying --------------------------------------------------------------------------------

/// Parameters and buffers of `module` by name.
std::vector<std::pair<std::string, torch::Tensor>> named_tensors(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

struct Copy {
  torch::Tensor dst, src;
};

void apply(const std::vector<Copy>& copies) {
  torch::NoGradGuard no_grad;
  for (const auto& c : copies) c.dst.copy_(c.src);
}

}  // namespace

// ---- reading --------------------------------------------------------------------------------

StateDict read_state_dict(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(path, "file not found");
  if (fs::is_directory(path, ec)) throw IoError(path, "is a directory, expected a state dict file");
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const std::exception& e) {
    char head = 0;
    std::ifstream(path, std::ios::binary).read(&head, 1);
    if (static_cast<uint8_t>(head) == 0x80)  // a bare pickle: torch.save before PyTorch 1.6
      throw IoError(path, "is in the legacy (pre-1.6) torch.save format, which is not supported; re-save it in "
                          "Python with torch.save(torch.load(FILE), FILE)");
    throw IoError(path, "not a zip-format torch.save file (truncated or corrupt?): " + first_line(e.what()));
  }
  try {
    if (reader->hasRecord("byteorder")) {
      auto [ptr, n] = reader->getRecord("byteorder");
      if (std::string(static_cast<const char*>(ptr.get()), n) != "little")
        fail("stores big-endian tensors, which are not supported");
    }
    if (!reader->hasRecord("data.pkl")) fail("holds no data.pkl: not a torch.save file");
    auto [pickle, pickle_size] = reader->getRecord("data.pkl");
    auto load_storage = [&](const std::string& key, c10::ScalarType dtype, int64_t numel) {
      const std::string record = "data/" + key;
      if (!reader->hasRecord(record)) fail("storage " + record + " is missing");
      if (numel < 0) fail("storage " + record + " has a negative size");
      auto [ptr, n] = reader->getRecord(record);
      auto storage = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
      const size_t expected = static_cast<size_t>(numel) * storage.element_size();
      if (n < expected)
        fail("storage " + record + " has " + std::to_string(n) + " bytes, expected " + std::to_string(expected));
      if (expected) std::memcpy(storage.data_ptr(), ptr.get(), expected);
      return storage;
    };
    Unpickler unpickler(static_cast<const char*>(pickle.get()), pickle_size, load_storage);
    return state_dict_of(*unpickler.parse());
  } catch (const std::exception& e) {
    throw IoError(path, first_line(e.what()));
  }
}

// ---- torchvision ------------------------------------------------------------------------------

InitReport init_from_torchvision(DetectorImpl& model, const std::string& path) {
  // Where the ResNet weights go: (prefix in the model, trunk).
  std::vector<std::pair<std::string, ResNetTrunk>> trunks;
  torch::nn::Linear fc{nullptr};
  if (auto* sola = dynamic_cast<SolaNetImpl*>(&model)) {
    trunks.emplace_back("rgb", sola->rgb);
    if (sola->noise) trunks.emplace_back("noise", sola->noise);
  } else if (auto* resnet = dynamic_cast<ResNetClassifierImpl*>(&model)) {
    trunks.emplace_back("trunk", resnet->trunk);
    fc = resnet->fc;
  } else {
    throw ConfigError("init from torchvision: the model (arch '" + model.options().arch() + "') has no ResNet trunk");
  }
  const std::string backbone = model.options().backbone();
  const StateDict file = read_state_dict(path);
  std::map<std::string, torch::Tensor> by_name(file.begin(), file.end());
  const std::string not_resnet = "is not a torchvision " + backbone + " state dict: ";

  // The first trunk defines what must be there: every one of its tensors, same name, same shape.
  std::vector<Copy> copies;
  InitReport report;
  std::map<std::string, bool> used;
  for (size_t t = 0; t < trunks.size(); ++t) {
    const auto& [prefix, trunk] = trunks[t];
    for (const auto& [name, dst] : named_tensors(*trunk)) {
      auto it = by_name.find(name);
      const bool fits = it != by_name.end() && it->second.sizes() == dst.sizes();
      if (t == 0 && it == by_name.end()) throw IoError(path, not_resnet + "it has no '" + name + "'");
      if (t == 0 && !fits)
        throw IoError(path, not_resnet + "'" + name + "' has shape " + shape_text(it->second.sizes()) + ", " +
                                backbone + " has " + shape_text(dst.sizes()));
      if (!fits) {  // another trunk that differs (e.g. a noise trunk with other input channels)
        report.skipped.push_back(prefix + "." + name);
        continue;
      }
      copies.push_back({dst, it->second});
      used[name] = true;
    }
  }
  if (fc) {
    for (const auto& [name, dst] : named_tensors(*fc)) {
      auto it = by_name.find("fc." + name);
      if (it != by_name.end() && it->second.sizes() == dst.sizes()) {
        copies.push_back({dst, it->second});
        used[it->first] = true;
      }
    }
  }
  // Whatever else the file holds must belong to the parts of a torchvision ResNet we do not use.
  const bool has_layer4 = trunks.front().second->layers.size() >= 4;
  for (const auto& [name, tensor] : file) {
    if (used.count(name)) continue;
    if (!starts_with(name, "fc.") && (has_layer4 || !starts_with(name, "layer4.")))
      throw IoError(path, not_resnet + "it has '" + name + "' " + shape_text(tensor.sizes()) + ", which " + backbone +
                              " does not");
    report.skipped.push_back(name);
  }
  apply(copies);
  report.loaded = static_cast<int>(copies.size());
  return report;
}

// ---- init specs -----------------------------------------------------------------------------

InitReport init_weights(DetectorImpl& model, const std::string& spec) {
  const auto colon = spec.find(':');
  const std::string scheme = colon == std::string::npos ? "" : spec.substr(0, colon);
  const std::string file = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (scheme != "torchvision" && scheme != "sola")
    throw ConfigError("init '" + spec + "' is invalid: expected torchvision:FILE (a torchvision ResNet state dict) "
                      "or sola:FILE (a sola model file)");
  if (file.empty()) throw ConfigError("init '" + spec + "' is invalid: the file name after '" + scheme + ":' is empty");
  if (scheme == "torchvision") return init_from_torchvision(model, file);

  const LoadedModel source = load_model(file);
  std::map<std::string, torch::Tensor> targets;
  for (const auto& [name, t] : named_tensors(model)) targets.emplace(name, t);
  std::vector<Copy> copies;
  InitReport report;
  for (const auto& [name, src] : named_tensors(*source.model)) {
    auto it = targets.find(name);
    if (it != targets.end() && it->second.sizes() == src.sizes())
      copies.push_back({it->second, src});
    else
      report.skipped.push_back(name);
  }
  if (copies.empty())
    throw IoError(file, "no tensor of this model matches the one being initialised (arch '" +
                            source.options.arch() + "', backbone '" + source.options.backbone() + "')");
  apply(copies);
  report.loaded = static_cast<int>(copies.size());
  report.model_tensors = static_cast<int>(targets.size());
  const std::string differences = json_differences(to_json(source.options), to_json(model.options()), "the file", "this model");
  if (!differences.empty() || report.loaded < report.model_tensors)
    report.warning = (differences.empty() ? std::string("the same model config") : "another model config (" + differences + ")") +
                     ": " + std::to_string(report.model_tensors - report.loaded) + " of this model's " +
                     std::to_string(report.model_tensors) + " tensors have no counterpart of the same name and shape and keep "
                     "their random initialisation";
  return report;
}

}  // namespace sola
