// bindings/nccl.cpp — pybind11 glue for NCCL (loaded at run time, cpu/nccl_loader.h).
//
//   nccl_load(candidates) -> str     dlopen libnccl.so.2 (wheel path from Python, then the loader)
//   nccl_version() -> int            e.g. 22105
//   nccl_unique_id() -> bytes        128 bytes; rank 0 makes it, MPI broadcasts it
//   NcclComm(unique_id, nranks, rank)  on fusednet's current CUDA device
//     .allreduce_sum_(arrays)        in place, float32 CUDA Arrays, one NCCL group on the device's
//                                    fusednet stream (ordered with the kernels before and after it:
//                                    no host synchronisation)
//     .broadcast_(arrays, root)      in place, same rules
//     .abort()                       ncclCommAbort (a peer died: do not wait for it)
// Why one group for a list: NCCL fuses the grouped collectives into one launch, the bucket of
// the CPU path. CPU-only builds load NCCL (so the absent-library error is testable) but refuse to
// make a communicator.
#include <cstring>

#include "bindings/bind_util.h"
#include "cpu/nccl_loader.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace fusednet {
namespace {

class NcclComm {
 public:
  NcclComm(const py::bytes& uid, int nranks, int rank) {
    std::string s = uid;
    if (s.size() != static_cast<size_t>(nccl::kUniqueIdBytes))
      throw ValueError("NcclComm: unique_id must be " + std::to_string(nccl::kUniqueIdBytes) +
                       " bytes (nccl_unique_id()), got " + std::to_string(s.size()));
    if (nranks < 1 || rank < 0 || rank >= nranks)
      throw ValueError("NcclComm: need 0 <= rank < nranks, got rank " + std::to_string(rank) +
                       ", nranks " + std::to_string(nranks));
#ifndef FUSEDNET_WITH_CUDA
    throw TypeError("NcclComm: this fusednet build has no CUDA support (NCCL reduces CUDA arrays)");
#else
    const nccl::Api& a = nccl::api();
    dev_ = cuda::current_device();
    nranks_ = nranks;
    nccl::UniqueId id;
    std::memcpy(id.internal, s.data(), sizeof(id.internal));
    nccl::Result r;
    {
      py::gil_scoped_release nogil;   // blocks until every rank has joined
      cuda::set_device(dev_);
      r = a.CommInitRank(&comm_, nranks, id, rank);
    }
    nccl::check(r, "ncclCommInitRank");
#endif
  }
  ~NcclComm() {
    if (comm_) nccl::api().CommDestroy(comm_);   // errors ignored: a destructor must not throw
  }
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int device() const { return dev_; }

  void allreduce_sum_(const std::vector<Array>& xs) { collective("allreduce_sum_", xs, -1); }
  void broadcast_(const std::vector<Array>& xs, int root) {
    if (root < 0 || root >= nranks_)
      throw ValueError("NcclComm.broadcast_: root " + std::to_string(root) + " outside [0, " +
                       std::to_string(nranks_) + ")");
    collective("broadcast_", xs, root);
  }
  void abort() {
    if (comm_) {
      nccl::Comm c = comm_;
      comm_ = nullptr;
      nccl::check(nccl::api().CommAbort(c), "ncclCommAbort");
    }
  }

 private:
  void collective(const char* op, const std::vector<Array>& xs, int root) {
    std::string name = std::string("NcclComm.") + op;
    if (!comm_) throw ValueError(name + ": the communicator was aborted");
    for (const Array& x : xs) {
      if (!x.is_cuda() || x.device().index != dev_)
        throw ValueError(name + ": arrays must be on cuda:" + std::to_string(dev_) +
                         " (the communicator's device), got " + x.describe());
      check_dtype(name.c_str(), "array", x, DType::F32);
      check_writable(name.c_str(), "array", x);
    }
#ifdef FUSEDNET_WITH_CUDA
    const nccl::Api& a = nccl::api();
    py::gil_scoped_release nogil;
    cuda::set_device(dev_);
    void* stream = cuda::stream();
    nccl::check(a.GroupStart(), "ncclGroupStart");
    nccl::Result r = 0;
    for (const Array& x : xs) {
      if (x.numel() == 0) continue;
      r = root < 0 ? a.AllReduce(x.raw(), x.raw(), static_cast<size_t>(x.numel()), nccl::kFloat32,
                                 nccl::kSum, comm_, stream)
                   : a.Broadcast(x.raw(), x.raw(), static_cast<size_t>(x.numel()), nccl::kFloat32,
                                 root, comm_, stream);
      if (r != 0) break;
    }
    nccl::Result e = a.GroupEnd();   // always close the group, even after a failed enqueue
    nccl::check(r, root < 0 ? "ncclAllReduce" : "ncclBroadcast");
    nccl::check(e, "ncclGroupEnd");
#endif
  }

  nccl::Comm comm_ = nullptr;
  int dev_ = 0;
  int nranks_ = 0;
};

}  // namespace

FN_BIND(nccl) {
  m.def("nccl_load", [](const std::vector<std::string>& candidates) { return nccl::load(candidates); },
        py::arg("candidates"),
        "dlopen libnccl.so.2: each candidate path, then the loader's search; returns what loaded");
  m.def("nccl_loaded", &nccl::loaded);
  m.def("nccl_version", &nccl::version);
  m.def("nccl_unique_id", []() {
    nccl::UniqueId id;
    nccl::check(nccl::api().GetUniqueId(&id), "ncclGetUniqueId");
    return py::bytes(id.internal, sizeof(id.internal));
  });
  py::class_<NcclComm>(m, "NcclComm")
      .def(py::init<const py::bytes&, int, int>(), py::arg("unique_id"), py::arg("nranks"), py::arg("rank"))
      .def_property_readonly("device", &NcclComm::device)
      .def("allreduce_sum_", &NcclComm::allreduce_sum_, py::arg("arrays"))
      .def("broadcast_", &NcclComm::broadcast_, py::arg("arrays"), py::arg("root") = 0)
      .def("abort", &NcclComm::abort);
}

}  // namespace fusednet
