// array.cpp — Array methods that need no Python: allocation, views, copies across devices.
#include "bindings/array.h"

#include <cstring>
#include <sstream>

#include "cpu/runtime.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace fusednet {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "?";
}

DType dtype_from_name(const std::string& s, const char* op) {
  if (s == "float32" || s == "float" || s == "f4") return DType::F32;
  if (s == "int32" || s == "i4") return DType::I32;
  if (s == "int64" || s == "i8" || s == "long") return DType::I64;
  throw TypeError(std::string(op) + ": unsupported dtype '" + s +
                  "' (fusednet arrays are float32, int32 or int64)");
}

std::string Device::str() const {
  return kind == CPU ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  Device d;
  if (s == "cpu") return d;
  if (s.rfind("cuda", 0) == 0) {
    d.kind = CUDA;
    if (s.size() == 4) return d;
    if (s[4] == ':') {
      try {
        size_t used = 0;
        d.index = std::stoi(s.substr(5), &used);
        if (used == s.size() - 5 && d.index >= 0) return d;
      } catch (...) {
      }
    }
  }
  throw ValueError("unknown device '" + s + "' (expected 'cpu', 'cuda' or 'cuda:N')");
}

Storage::~Storage() {
  if (release && ptr) release(ptr);
}

std::string shape_str(const std::vector<i64>& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ",";
  os << ")";
  return os.str();
}

i64 Array::numel() const {
  i64 n = 1;
  for (i64 d : shape) n *= d;
  return n;
}

std::string Array::shape_str() const { return fusednet::shape_str(shape); }

std::string Array::describe() const {
  return std::string(dtype_name(dtype)) + " " + shape_str() + " on " + device().str();
}

// Largest element count an Array may have: 2^40 (4 TiB of float32). Anything larger is a
// mistake, not a workload, and must fail before an allocator (or an overcommitting kernel)
// is asked for it.
static constexpr i64 kMaxElements = i64(1) << 40;

static void check_shape_valid(const std::vector<i64>& shape, const char* op) {
  i64 n = 1;
  for (i64 d : shape) {
    if (d < 0) throw ValueError(std::string(op) + ": negative dimension in shape " + shape_str(shape));
    if (d && n > kMaxElements / d)
      throw ValueError(std::string(op) + ": shape " + shape_str(shape) + " is too large (more than 2^40 elements)");
    n *= d;
  }
}

Array Array::empty(const std::vector<i64>& shape, DType dtype, Device device, const char* op) {
  check_shape_valid(shape, op);
  Array a;
  a.shape = shape;
  a.dtype = dtype;
  auto st = std::make_shared<Storage>();
  st->device = device;
  st->nbytes = a.nbytes();
  auto refused = [&]() {
    return MemoryError(std::string(op) + ": cannot allocate " + std::to_string(st->nbytes) +
                       " bytes for a " + dtype_name(dtype) + " array of shape " + fusednet::shape_str(shape) +
                       " on " + device.str());
  };
  if (device.kind == Device::CPU) {
    try {
      st->ptr = cpu::array_malloc(st->nbytes);
    } catch (const std::bad_alloc&) {
      throw refused();
    }
    size_t nb = st->nbytes;
    st->release = [nb](void* p) { cpu::array_free(p, nb); };
  } else {
#ifdef FUSEDNET_WITH_CUDA
    int dev = device.index;
    if (dev >= cuda::device_count())
      throw ValueError(std::string(op) + ": device " + device.str() + " does not exist (" +
                       std::to_string(cuda::device_count()) + " CUDA devices)");
    try {
      st->ptr = cuda::device_malloc(st->nbytes, dev);
    } catch (const std::runtime_error& e) {
      throw MemoryError(std::string(refused().what()) + ": " + e.what());
    }
    st->release = [dev](void* p) { cuda::device_free(p, dev); };
#else
    throw TypeError(std::string(op) + ": this fusednet build has no CUDA support (built with FUSEDNET_CUDA=OFF or without nvcc)");
#endif
  }
  a.storage = std::move(st);
  return a;
}

Array Array::zeros(const std::vector<i64>& shape, DType dtype, Device device, const char* op) {
  Array a = empty(shape, dtype, device, op);
  a.fill(0.0);
  return a;
}

Array Array::view(std::vector<i64> ns) const {
  int infer = -1;
  i64 known = 1;
  for (size_t i = 0; i < ns.size(); ++i) {
    if (ns[i] == -1) {
      if (infer >= 0) throw ValueError("reshape: only one dimension may be -1, got " + fusednet::shape_str(ns));
      infer = static_cast<int>(i);
    } else if (ns[i] < 0) {
      throw ValueError("reshape: negative dimension in " + fusednet::shape_str(ns));
    } else {
      known *= ns[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      throw ValueError("reshape: cannot reshape array of shape " + shape_str() + " into " +
                       fusednet::shape_str(ns));
    ns[infer] = numel() / known;
    known *= ns[infer];
  }
  if (known != numel())
    throw ValueError("reshape: cannot reshape array of shape " + shape_str() + " (" +
                     std::to_string(numel()) + " elements) into " + fusednet::shape_str(ns));
  Array v = *this;
  v.shape = std::move(ns);
  return v;
}

static void copy_bytes(void* dst, Device dd, const void* src, Device sd, size_t n) {
  if (!n) return;
  if (dd.kind == Device::CPU && sd.kind == Device::CPU) {
    std::memmove(dst, src, n);
    return;
  }
#ifdef FUSEDNET_WITH_CUDA
  if (dd.kind == Device::CUDA && sd.kind == Device::CPU) cuda::memcpy_h2d(dst, src, n);
  else if (dd.kind == Device::CPU && sd.kind == Device::CUDA) cuda::memcpy_d2h(dst, src, n);
  else cuda::memcpy_d2d(dst, src, n);
#else
  throw TypeError("this fusednet build has no CUDA support");
#endif
}

Array Array::to(Device dev, bool force_copy) const {
  if (dev == device() && !force_copy) return *this;
  Array out = empty(shape, dtype, dev);
  copy_bytes(out.raw(), dev, raw(), device(), nbytes());
  return out;
}

void Array::copy_from(const Array& src) {
  if (src.shape != shape || src.dtype != dtype)
    throw ValueError("copy_: source " + src.describe() + " does not match destination " + describe());
  if (readonly()) throw ValueError("copy_: destination array is read-only");
  copy_bytes(raw(), device(), src.raw(), src.device(), nbytes());
}

void Array::fill(double value) {
  if (readonly()) throw ValueError("fill_: array is read-only");
  i64 n = numel();
  if (!n) return;
  if (is_cpu()) {
    if (dtype == DType::F32) {
      float v = static_cast<float>(value);
      float* p = f32();
      for (i64 i = 0; i < n; ++i) p[i] = v;
    } else if (dtype == DType::I32) {
      int32_t v = static_cast<int32_t>(value);
      int32_t* p = data<int32_t>();
      for (i64 i = 0; i < n; ++i) p[i] = v;
    } else {
      int64_t v = static_cast<int64_t>(value);
      int64_t* p = data<int64_t>();
      for (i64 i = 0; i < n; ++i) p[i] = v;
    }
    return;
  }
#ifdef FUSEDNET_WITH_CUDA
  if (dtype == DType::F32) {
    float v = static_cast<float>(value);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    cuda::fill_bytes4(raw(), bits, n);
  } else if (dtype == DType::I32) {
    int32_t v = static_cast<int32_t>(value);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    cuda::fill_bytes4(raw(), bits, n);
  } else {
    int64_t v = static_cast<int64_t>(value);
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    cuda::fill_bytes8(raw(), bits, n);
  }
#endif
}

bool same_memory(const Array& a, const Array& b) {
  if (!a.storage || !b.storage || a.device() != b.device()) return false;
  const char* a0 = static_cast<const char*>(a.raw());
  const char* b0 = static_cast<const char*>(b.raw());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

}  // namespace fusednet
