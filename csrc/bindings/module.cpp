// module.cpp — the pybind11 module fusednet._C: the Array type, its NumPy (buffer protocol) and
// DLPack bridges, runtime controls, and the registry that pulls in every family's bindings.
#include <pybind11/numpy.h>

#include <cstring>
#include <mutex>

#include "bindings/bind_util.h"
#include "bindings/dlpack.h"
#include "cpu/runtime.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace fusednet {

// ---------------------------------------------------------------- registry
namespace {
std::vector<std::pair<const char*, BindFn>>& registry() {
  static std::vector<std::pair<const char*, BindFn>> r;
  return r;
}
}  // namespace

int register_binding(const char* name, BindFn fn) {
  registry().emplace_back(name, fn);
  return 0;
}

void run_bindings(py::module_& m) {
  for (auto& [name, fn] : registry()) fn(m);
}

// ---------------------------------------------------------------- checks
void check_dtype(const char* op, const char* arg, const Array& a, DType want) {
  if (a.dtype != want)
    throw TypeError(std::string(op) + ": " + arg + " must be " + dtype_name(want) + ", got " +
                    a.describe());
}

void check_ndim(const char* op, const char* arg, const Array& a, int ndim) {
  if (a.ndim() != ndim)
    throw ValueError(std::string(op) + ": " + arg + " must be " + std::to_string(ndim) +
                     "-D, got shape " + a.shape_str());
}

void check_shape(const char* op, const char* arg, const Array& a, const std::vector<i64>& want) {
  if (a.shape != want)
    throw ValueError(std::string(op) + ": " + arg + " must have shape " + shape_str(want) +
                     ", got " + a.shape_str());
}

void check_same_device(const char* op, std::initializer_list<const Array*> arrays) {
  const Array* first = nullptr;
  for (const Array* a : arrays) {
    if (!a) continue;
    if (!first) first = a;
    else if (a->device() != first->device())
      throw ValueError(std::string(op) + ": arrays are on different devices (" +
                       first->device().str() + " and " + a->device().str() +
                       "); move them with .to(device)");
  }
}

void check_writable(const char* op, const char* arg, const Array& a) {
  if (a.readonly())
    throw ValueError(std::string(op) + ": " + arg + " is read-only (wraps a read-only NumPy buffer)");
}

Array out_or_empty(const char* op, const std::optional<Array>& out, const std::vector<i64>& shape,
                   DType dtype, Device device) {
  if (!out) return Array::empty(shape, dtype, device);
  const Array& o = *out;
  if (o.shape != shape)
    throw ValueError(std::string(op) + ": out must have shape " + shape_str(shape) + ", got " +
                     o.shape_str());
  if (o.dtype != dtype)
    throw TypeError(std::string(op) + ": out must be " + dtype_name(dtype) + ", got " + o.describe());
  if (o.device() != device)
    throw ValueError(std::string(op) + ": out is on " + o.device().str() + " but inputs are on " +
                     device.str());
  check_writable(op, "out", o);
  return o;
}

void throw_no_cuda(const char* op) {
  throw TypeError(std::string(op) + ": got a CUDA array but this fusednet build has no CUDA support");
}

// ---------------------------------------------------------------- NumPy bridge
namespace {

py::object numpy() {
  // Deliberately leaked: a static py::object would be decref'd by the C++ exit handlers after
  // the interpreter is finalized, which crashes (SIGSEGV in module_dealloc) when NumPy's module
  // object is otherwise unreferenced by then (seen with matplotlib imported).
  static py::object* np = new py::object(py::module_::import("numpy"));
  return *np;
}

const char* np_dtype_name(DType d) { return dtype_name(d); }

// Wrap an existing NumPy array's buffer without copying. The Storage keeps a reference.
Array wrap_numpy(py::array arr, DType dt) {
  Array a;
  a.dtype = dt;
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) a.shape.push_back(arr.shape(i));
  auto st = std::make_shared<Storage>();
  st->ptr = const_cast<void*>(arr.data());
  st->nbytes = a.nbytes();
  st->readonly = !arr.writeable();
  PyObject* ref = arr.ptr();
  Py_INCREF(ref);
  st->release = [ref](void*) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire g;
    Py_DECREF(ref);
  };
  if (!st->ptr) {  // empty NumPy arrays may have a null data pointer; give a harmless one
    st->ptr = reinterpret_cast<void*>(64);
    st->release = [ref](void*) {
      if (!Py_IsInitialized()) return;
      py::gil_scoped_acquire g;
      Py_DECREF(ref);
    };
  }
  a.storage = std::move(st);
  return a;
}

// A NumPy view (no copy) of a CPU Array; keeps the Array alive through the base object.
py::array numpy_view(const Array& a) {
  if (!a.is_cpu())
    throw TypeError("Array on " + a.device().str() + " cannot be viewed as NumPy; call .to('cpu') first");
  std::vector<py::ssize_t> shape(a.shape.begin(), a.shape.end()), strides(a.shape.size());
  py::ssize_t s = itemsize(a.dtype);
  for (int i = a.ndim() - 1; i >= 0; --i) {
    strides[i] = s;
    s *= std::max<py::ssize_t>(1, a.shape[i]);
  }
  py::dtype dt(np_dtype_name(a.dtype));
  py::object base = py::cast(a);
  py::array out(dt, shape, strides, a.raw(), base);
  if (a.readonly()) out.attr("setflags")(py::arg("write") = false);
  return out;
}

std::optional<DType> dtype_arg(const py::object& o) {
  if (o.is_none()) return std::nullopt;
  if (py::isinstance<py::str>(o)) return dtype_from_name(o.cast<std::string>(), "asarray");
  // numpy dtypes and scalar types (np.float32, np.dtype('float32'))
  std::string name = py::str(numpy().attr("dtype")(o).attr("name"));
  return dtype_from_name(name, "asarray");
}

DType default_dtype_for(const py::array& arr) {
  py::dtype d = arr.dtype();
  char kind = d.kind();
  int size = static_cast<int>(d.itemsize());
  if (kind == 'f') return DType::F32;
  if (kind == 'i' && size == 4) return DType::I32;
  if (kind == 'i' || kind == 'u' || kind == 'b') return DType::I64;
  throw TypeError("asarray: cannot convert NumPy dtype " + std::string(py::str(d)) +
                  " to a fusednet Array (supported: float, int, bool)");
}

bool np_matches(const py::array& arr, DType dt) {
  py::dtype d = arr.dtype();
  char kind = d.kind();
  auto sz = d.itemsize();
  bool native = py::str(d.attr("byteorder")).cast<std::string>() != ">";
  if (!native) return false;
  switch (dt) {
    case DType::F32: return kind == 'f' && sz == 4;
    case DType::I32: return kind == 'i' && sz == 4;
    case DType::I64: return kind == 'i' && sz == 8;
  }
  return false;
}

// ---------------------------------------------------------------- DLPack
struct DLCtx {
  Array arr;
  std::vector<int64_t> shape, strides;
};

void fill_dltensor(DLTensor& t, DLCtx* ctx) {
  const Array& a = ctx->arr;
  ctx->shape.assign(a.shape.begin(), a.shape.end());
  ctx->strides.resize(a.shape.size());
  int64_t s = 1;
  for (int i = a.ndim() - 1; i >= 0; --i) {
    ctx->strides[i] = s;
    s *= std::max<int64_t>(1, a.shape[i]);
  }
  t.data = a.raw();
  t.device.device_type = a.is_cpu() ? kDLCPU : kDLCUDA;
  t.device.device_id = a.is_cpu() ? 0 : a.device().index;
  t.ndim = a.ndim();
  t.dtype.code = a.dtype == DType::F32 ? kDLFloat : kDLInt;
  t.dtype.bits = static_cast<uint8_t>(itemsize(a.dtype) * 8);
  t.dtype.lanes = 1;
  t.shape = ctx->shape.data();
  t.strides = ctx->strides.data();
  t.byte_offset = 0;
}

void legacy_deleter(DLManagedTensor* m) {
  delete static_cast<DLCtx*>(m->manager_ctx);
  delete m;
}
void versioned_deleter(DLManagedTensorVersioned* m) {
  delete static_cast<DLCtx*>(m->manager_ctx);
  delete m;
}

py::capsule to_dlpack(const Array& a, bool versioned) {
  auto* ctx = new DLCtx{a, {}, {}};
  if (versioned) {
    auto* m = new DLManagedTensorVersioned{};
    m->version = {1, 0};
    m->manager_ctx = ctx;
    m->deleter = versioned_deleter;
    m->flags = a.readonly() ? DLPACK_FLAG_BITMASK_READ_ONLY : 0;
    fill_dltensor(m->dl_tensor, ctx);
    return py::capsule(m, "dltensor_versioned", [](PyObject* cap) {
      if (PyCapsule_IsValid(cap, "dltensor_versioned")) {
        auto* mm = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap, "dltensor_versioned"));
        if (mm && mm->deleter) mm->deleter(mm);
      }
    });
  }
  auto* m = new DLManagedTensor{};
  m->manager_ctx = ctx;
  m->deleter = legacy_deleter;
  fill_dltensor(m->dl_tensor, ctx);
  return py::capsule(m, "dltensor", [](PyObject* cap) {
    if (PyCapsule_IsValid(cap, "dltensor")) {
      auto* mm = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
      if (mm && mm->deleter) mm->deleter(mm);
    }
  });
}

Array from_dltensor(const DLTensor& t, std::function<void(void*)> release, bool readonly) {
  Array a;
  const auto& dt = t.dtype;
  if (dt.lanes != 1) throw TypeError("from_dlpack: vector dtypes (lanes != 1) are not supported");
  if (dt.code == kDLFloat && dt.bits == 32) a.dtype = DType::F32;
  else if (dt.code == kDLInt && dt.bits == 32) a.dtype = DType::I32;
  else if (dt.code == kDLInt && dt.bits == 64) a.dtype = DType::I64;
  else
    throw TypeError("from_dlpack: unsupported dtype (code " + std::to_string(dt.code) + ", " +
                    std::to_string(dt.bits) + " bits); fusednet supports float32, int32, int64");
  Device dev;
  if (t.device.device_type == kDLCPU || t.device.device_type == kDLCUDAHost) {
    dev.kind = Device::CPU;
  } else if (t.device.device_type == kDLCUDA) {
#ifdef FUSEDNET_WITH_CUDA
    dev.kind = Device::CUDA;
    dev.index = t.device.device_id;
#else
    throw TypeError("from_dlpack: tensor is on a CUDA device but this build has no CUDA support");
#endif
  } else {
    throw TypeError("from_dlpack: unsupported device type " + std::to_string(t.device.device_type));
  }
  a.shape.assign(t.shape, t.shape + t.ndim);
  if (t.strides) {
    int64_t expect = 1;
    for (int i = t.ndim - 1; i >= 0; --i) {
      if (t.shape[i] != 1 && t.strides[i] != expect)
        throw ValueError("from_dlpack: tensor of shape " + a.shape_str() +
                         " is not C-contiguous; call .contiguous() first");
      expect *= t.shape[i];
    }
  }
  auto st = std::make_shared<Storage>();
  st->ptr = static_cast<char*>(t.data) + t.byte_offset;
  if (!st->ptr) st->ptr = reinterpret_cast<void*>(64);
  st->nbytes = a.nbytes();
  st->device = dev;
  st->readonly = readonly;
  st->release = std::move(release);
  a.storage = std::move(st);
  return a;
}

Array from_dlpack(py::object obj) {
  if (py::isinstance<Array>(obj)) return obj.cast<Array>();
  if (!py::hasattr(obj, "__dlpack__"))
    throw TypeError("from_dlpack: object of type " + std::string(py::str(py::type::of(obj))) +
                    " does not implement __dlpack__");
  py::object cap;
  try {
    py::tuple ver = py::make_tuple(1, 0);
    cap = obj.attr("__dlpack__")(py::arg("max_version") = ver);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    cap = obj.attr("__dlpack__")();
  }
  PyObject* c = cap.ptr();
  if (PyCapsule_IsValid(c, "dltensor_versioned")) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(c, "dltensor_versioned"));
    if (m->version.major > 1) throw TypeError("from_dlpack: unsupported DLPack major version");
    auto rel = [m](void*) {
      if (!Py_IsInitialized()) return;
      py::gil_scoped_acquire g;
      if (m->deleter) m->deleter(m);
    };
    Array a = from_dltensor(m->dl_tensor, rel, (m->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0);
    PyCapsule_SetName(c, "used_dltensor_versioned");
    return a;
  }
  if (PyCapsule_IsValid(c, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
    auto rel = [m](void*) {
      if (!Py_IsInitialized()) return;
      py::gil_scoped_acquire g;
      if (m->deleter) m->deleter(m);
    };
    Array a = from_dltensor(m->dl_tensor, rel, false);
    PyCapsule_SetName(c, "used_dltensor");
    return a;
  }
  throw TypeError("from_dlpack: __dlpack__ did not return a DLPack capsule");
}

Array asarray(py::object obj, py::object dtype_o, py::object device_o, py::object copy_o) {
  std::optional<DType> want = dtype_arg(dtype_o);
  std::optional<Device> dev;
  if (!device_o.is_none()) dev = Device::parse(py::str(device_o));
  bool force_copy = !copy_o.is_none() && copy_o.cast<bool>();
  bool never_copy = !copy_o.is_none() && !copy_o.cast<bool>();

  Array a;
  bool have = false;
  if (py::isinstance<Array>(obj)) {
    a = obj.cast<Array>();
    have = true;
  } else if (!py::isinstance<py::array>(obj) && py::hasattr(obj, "__dlpack__") &&
             py::hasattr(obj, "__dlpack_device__")) {
    try {
      a = from_dlpack(obj);
      have = true;
    } catch (ValueError&) {  // non-contiguous: fall through to the NumPy path (copies)
      if (never_copy) throw;
    } catch (TypeError&) {   // e.g. float64 torch tensor: convert through NumPy
      if (never_copy) throw;
    }
  }
  if (have) {
    if (want && *want != a.dtype) {
      if (never_copy) throw ValueError("asarray: dtype conversion needs a copy but copy=False");
      if (!a.is_cpu()) throw TypeError("asarray: dtype conversion of device arrays is not supported; convert on the CPU");
      py::array src = numpy_view(a);
      Array out = Array::empty(a.shape, *want, Device{});
      numpy().attr("copyto")(numpy_view(out), src, py::arg("casting") = "unsafe");
      a = out;
      force_copy = false;
    }
    Device target = dev ? *dev : a.device();
    if (target != a.device() && never_copy)
      throw ValueError("asarray: moving to " + target.str() + " needs a copy but copy=False");
    return a.to(target, force_copy);
  }

  py::array arr = numpy().attr("asarray")(obj);
  DType dt = want ? *want : default_dtype_for(arr);
  bool zero_copy = np_matches(arr, dt) && (arr.flags() & py::array::c_style) &&
                   (reinterpret_cast<uintptr_t>(arr.data()) % itemsize(dt) == 0) &&
                   arr.ndim() <= 32;
  Array host;
  if (zero_copy && !force_copy) {
    host = wrap_numpy(arr, dt);
  } else {
    if (never_copy)
      throw ValueError("asarray: input (dtype " + std::string(py::str(arr.dtype())) +
                       ", contiguous=" + ((arr.flags() & py::array::c_style) ? "True" : "False") +
                       ") needs a copy but copy=False");
    std::vector<i64> shape;
    for (py::ssize_t i = 0; i < arr.ndim(); ++i) shape.push_back(arr.shape(i));
    host = Array::empty(shape, dt, Device{});
    numpy().attr("copyto")(numpy_view(host), arr, py::arg("casting") = "unsafe");
  }
  if (dev && *dev != host.device()) return host.to(*dev);
  return host;
}

std::vector<i64> shape_arg(py::args args) {
  // reshape(2, 3) and reshape((2, 3)) both work, as in NumPy/PyTorch.
  std::vector<i64> s;
  try {
    if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) {
      if (py::isinstance<py::str>(args[0])) throw py::cast_error();
      for (auto v : args[0]) s.push_back(v.cast<i64>());
    } else {
      for (auto v : args) s.push_back(v.cast<i64>());
    }
  } catch (const py::cast_error&) {
    throw TypeError("reshape: the new shape must be integers or one sequence of integers, got " +
                    std::string(py::str(py::repr(args))));
  } catch (const py::error_already_set& e) {  // not iterable
    if (!e.matches(PyExc_TypeError)) throw;
    throw TypeError("reshape: the new shape must be integers or one sequence of integers, got " +
                    std::string(py::str(py::repr(args))));
  }
  return s;
}

}  // namespace
}  // namespace fusednet

using namespace fusednet;

PYBIND11_MODULE(_C, m) {
  m.doc() = "fusednet native core: Array and hand-written C++/CUDA kernels";

  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fusednet::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const fusednet::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const fusednet::MemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });

  py::class_<Array>(m, "Array", py::buffer_protocol(), py::dynamic_attr())
      .def_buffer([](Array& a) -> py::buffer_info {
        if (!a.is_cpu())
          throw TypeError("Array on " + a.device().str() + " has no host buffer; call .to('cpu') first");
        std::vector<py::ssize_t> shape(a.shape.begin(), a.shape.end()), strides(a.shape.size());
        py::ssize_t s = itemsize(a.dtype);
        for (int i = a.ndim() - 1; i >= 0; --i) {
          strides[i] = s;
          s *= std::max<py::ssize_t>(1, a.shape[i]);
        }
        std::string fmt = a.dtype == DType::F32   ? py::format_descriptor<float>::format()
                          : a.dtype == DType::I32 ? py::format_descriptor<int32_t>::format()
                                                  : py::format_descriptor<int64_t>::format();
        return py::buffer_info(a.raw(), itemsize(a.dtype), fmt, a.ndim(), shape, strides, a.readonly());
      })
      .def_property_readonly("shape", [](const Array& a) {
        py::tuple t(a.shape.size());
        for (size_t i = 0; i < a.shape.size(); ++i) t[i] = a.shape[i];
        return t;
      })
      .def_property_readonly("dtype", [](const Array& a) { return dtype_name(a.dtype); })
      .def_property_readonly("device", [](const Array& a) { return a.device().str(); })
      .def_property_readonly("ndim", &Array::ndim)
      .def_property_readonly("size", &Array::numel)
      .def_property_readonly("nbytes", [](const Array& a) { return a.nbytes(); })
      .def_property_readonly("itemsize", [](const Array& a) { return itemsize(a.dtype); })
      .def_property_readonly("data_ptr", [](const Array& a) { return reinterpret_cast<uintptr_t>(a.raw()); })
      .def_property_readonly("readonly", &Array::readonly)
      .def("__len__", [](const Array& a) {
        if (a.ndim() == 0) throw py::type_error("len() of a 0-d Array");
        return a.shape[0];
      })
      .def("__repr__", [](const Array& a) {
        std::string s = "fusednet.Array(shape=" + a.shape_str() + ", dtype=" + dtype_name(a.dtype) +
                        ", device=" + a.device().str() + ")";
        return s;
      })
      .def("reshape", [](const Array& a, py::args args) { return a.view(shape_arg(args)); },
           "View with a new shape (shares memory; one dimension may be -1).")
      .def("to", [](const Array& a, const std::string& dev) { return a.to(Device::parse(dev)); },
           py::arg("device"), "Copy to 'cpu' / 'cuda[:N]' (returns self when already there).")
      .def("cpu", [](const Array& a) { return a.to(Device{}); })
      .def("cuda", [](const Array& a, int idx) { return a.to(Device{Device::CUDA, idx}); }, py::arg("index") = 0)
      .def("copy", &Array::clone, "A new Array with a copy of the data, on the same device.")
      .def("numpy", [](const Array& a) { return numpy_view(a); },
           "A NumPy view sharing memory (CPU arrays only).")
      .def("fill_", [](Array& a, double v) { a.fill(v); return a; }, py::arg("value"))
      .def("copy_", [](Array& a, const Array& src) { a.copy_from(src); return a; }, py::arg("src"))
      .def("item", [](const Array& a) -> py::object {
        if (a.numel() != 1)
          throw ValueError("item: only arrays with one element can be converted, got shape " + a.shape_str());
        Array h = a.to(Device{});
        if (h.dtype == DType::F32) return py::float_(*h.f32());
        if (h.dtype == DType::I32) return py::int_(*h.data<int32_t>());
        return py::int_(*h.data<int64_t>());
      })
      .def("__dlpack__", [](const Array& a, py::object stream, py::object max_version,
                             py::object dl_device, py::object copy) {
             Array src = a;
             if (!copy.is_none() && copy.cast<bool>()) src = a.clone();
#ifdef FUSEDNET_WITH_CUDA
             if (src.is_cuda() && !(py::isinstance<py::int_>(stream) && stream.cast<long long>() == -1))
               cuda::synchronize();  // our stream's writes are visible to the consumer's stream
#endif
             bool versioned = false;
             if (!max_version.is_none()) versioned = max_version.cast<py::tuple>()[0].cast<int>() >= 1;
             return to_dlpack(src, versioned);
           },
           py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
           py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
      .def("__dlpack_device__", [](const Array& a) {
        return py::make_tuple(a.is_cpu() ? int(kDLCPU) : int(kDLCUDA), a.is_cpu() ? 0 : a.device().index);
      });

  m.def("asarray", &fusednet::asarray, py::arg("obj"), py::arg("dtype") = py::none(),
        py::arg("device") = py::none(), py::arg("copy") = py::none());
  m.def("from_dlpack", &fusednet::from_dlpack, py::arg("obj"));
  m.def("empty", [](std::vector<i64> shape, const std::string& dtype, const std::string& device) {
          return Array::empty(shape, dtype_from_name(dtype, "empty"), Device::parse(device), "empty");
        }, py::arg("shape"), py::arg("dtype") = "float32", py::arg("device") = "cpu");
  m.def("zeros", [](std::vector<i64> shape, const std::string& dtype, const std::string& device) {
          return Array::zeros(shape, dtype_from_name(dtype, "zeros"), Device::parse(device), "zeros");
        }, py::arg("shape"), py::arg("dtype") = "float32", py::arg("device") = "cpu");
  m.def("full", [](std::vector<i64> shape, double value, const std::string& dtype, const std::string& device) {
          Array a = Array::empty(shape, dtype_from_name(dtype, "full"), Device::parse(device), "full");
          a.fill(value);
          return a;
        }, py::arg("shape"), py::arg("value"), py::arg("dtype") = "float32", py::arg("device") = "cpu");
  m.def("shares_memory", &same_memory);

  m.def("set_num_threads", &cpu::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &cpu::num_threads);
  m.def("cpu_empty_cache", &cpu::array_empty_cache,
        "Return the host memory cached for Array reuse (blocks >= 256 KiB) to the system.");
  m.def("cpu_cached_bytes", &cpu::array_cached_bytes);
  m.def("cpu_isa", &cpu::isa_name, "Micro-kernel ISA chosen at run time: avx512, avx2 or portable.");

#ifdef FUSEDNET_WITH_CUDA
  m.attr("built_with_cuda") = true;
  m.def("cuda_is_available", &cuda::is_available);
  m.def("cuda_device_count", &cuda::device_count);
  m.def("cuda_synchronize", []() { if (cuda::is_available()) cuda::synchronize(); });
  m.def("cuda_device_name", &cuda::device_name, py::arg("device") = 0);
  m.def("cuda_set_device", &cuda::set_device);
  m.def("cuda_memory_allocated", &cuda::memory_allocated);
  m.def("cuda_memory_reserved", &cuda::memory_reserved);
  m.def("cuda_empty_cache", &cuda::empty_cache);
#else
  m.attr("built_with_cuda") = false;
  m.def("cuda_is_available", []() { return false; });
  m.def("cuda_device_count", []() { return 0; });
  m.def("cuda_synchronize", []() {});
#endif

  run_bindings(m);
}
