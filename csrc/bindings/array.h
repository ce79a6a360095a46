// array.h — fusednet::Array, the one native array type (DESIGN invariant 1).
//
// An Array is a shared, reference-counted Storage (a device buffer plus how to release it) and a
// C-contiguous view of it: byte offset, shape, dtype. Arrays are always row-major contiguous, so
// every kernel receives plain pointers and sizes; strided input is converted at the boundary.
// Storage may be owned (64-byte aligned host memory, or the CUDA caching allocator) or borrowed
// (a NumPy buffer, a DLPack tensor) — in the borrowed case `release` drops the foreign reference.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/common.h"

namespace fusednet {

enum class DType : uint8_t { F32 = 0, I32 = 1, I64 = 2 };

inline size_t itemsize(DType d) { return d == DType::I64 ? 8 : 4; }
const char* dtype_name(DType d);
// Throws TypeError naming `op` for anything but float32/int32/int64.
DType dtype_from_name(const std::string& s, const char* op = "dtype");

struct Device {
  enum Kind : uint8_t { CPU = 0, CUDA = 1 };
  Kind kind = CPU;
  int index = 0;
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
  static Device parse(const std::string& s);  // "cpu", "cuda", "cuda:1"; throws ValueError
};

struct Storage {
  void* ptr = nullptr;
  size_t nbytes = 0;
  Device device;
  bool readonly = false;                 // borrowed from a read-only NumPy buffer
  std::function<void(void*)> release;    // frees or drops the borrowed reference
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
};

class Array {
 public:
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes into storage
  std::vector<i64> shape;
  DType dtype = DType::F32;

  // Fresh, uninitialised array (host: 64-byte aligned; CUDA: caching allocator). `op` names the
  // caller in errors (negative/oversized shape: ValueError; refused allocation: MemoryError).
  static Array empty(const std::vector<i64>& shape, DType dtype, Device device = Device{},
                     const char* op = "empty");
  static Array zeros(const std::vector<i64>& shape, DType dtype, Device device = Device{},
                     const char* op = "zeros");

  i64 numel() const;
  int ndim() const { return static_cast<int>(shape.size()); }
  i64 dim(int i) const { return shape.at(i < 0 ? i + ndim() : i); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * itemsize(dtype); }
  Device device() const { return storage ? storage->device : Device{}; }
  bool is_cpu() const { return device().kind == Device::CPU; }
  bool is_cuda() const { return device().kind == Device::CUDA; }
  bool readonly() const { return storage && storage->readonly; }

  void* raw() const { return storage ? static_cast<char*>(storage->ptr) + offset : nullptr; }
  template <class T> T* data() const { return static_cast<T*>(raw()); }
  float* f32() const { return data<float>(); }

  std::string shape_str() const;  // "(3, 4)"
  std::string describe() const;   // "float32 (3, 4) on cpu"

  // Same storage, new shape (one entry may be -1). Throws ValueError on a size mismatch.
  Array view(std::vector<i64> new_shape) const;
  // Copy to a device (a no-op copy of the handle when already there, unless force_copy).
  Array to(Device dev, bool force_copy = false) const;
  Array clone() const { return to(device(), true); }
  // Elementwise copy from src (same shape, dtype; any devices).
  void copy_from(const Array& src);
  void fill(double value);
};

std::string shape_str(const std::vector<i64>& s);
bool same_memory(const Array& a, const Array& b);  // overlapping byte ranges

}  // namespace fusednet
