// nccl_loader.cpp — dlopen()/dlsym() of libnccl.so.2 (see nccl_loader.h for why at run time).
//
// One process-wide handle, taken under a mutex (load() may race with nothing else in practice,
// but Python threads could call it). RTLD_NOW: a library missing a symbol fails here, with its
// name, not at the first allreduce. RTLD_LOCAL: NCCL's symbols must not interpose on anything.
#include "cpu/nccl_loader.h"

#include <dlfcn.h>

#include <mutex>
#include <stdexcept>

namespace fusednet::nccl {
namespace {

std::mutex g_mu;
void* g_handle = nullptr;
std::string g_where;
Api g_api{};

template <class F>
bool resolve(void* h, const char* name, F& slot, std::string& missing) {
  void* p = dlsym(h, name);
  if (!p) {
    missing += missing.empty() ? name : std::string(", ") + name;
    return false;
  }
  slot = reinterpret_cast<F>(p);
  return true;
}

}  // namespace

std::string load(const std::vector<std::string>& candidates) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_handle) return g_where;
  std::vector<std::string> tries = candidates;
  tries.push_back("libnccl.so.2");   // LD_LIBRARY_PATH / ldconfig
  std::string why;
  for (const std::string& path : tries) {
    dlerror();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      std::string msg = e ? e : "not found";
      // glibc's message already starts with the path; other loaders' may not
      why += "\n  " + (msg.rfind(path, 0) == 0 ? msg : path + ": " + msg);
      continue;
    }
    Api a{};
    std::string missing;
    bool ok = resolve(h, "ncclGetVersion", a.GetVersion, missing);
    ok &= resolve(h, "ncclGetUniqueId", a.GetUniqueId, missing);
    ok &= resolve(h, "ncclCommInitRank", a.CommInitRank, missing);
    ok &= resolve(h, "ncclCommDestroy", a.CommDestroy, missing);
    ok &= resolve(h, "ncclCommAbort", a.CommAbort, missing);
    ok &= resolve(h, "ncclAllReduce", a.AllReduce, missing);
    ok &= resolve(h, "ncclBroadcast", a.Broadcast, missing);
    ok &= resolve(h, "ncclGroupStart", a.GroupStart, missing);
    ok &= resolve(h, "ncclGroupEnd", a.GroupEnd, missing);
    ok &= resolve(h, "ncclGetErrorString", a.GetErrorString, missing);
    if (!ok) {
      why += "\n  " + path + ": loaded but lacks " + missing + " (not NCCL 2.x?)";
      dlclose(h);
      continue;
    }
    g_handle = h;
    g_api = a;
    g_where = path;
    return g_where;
  }
  throw std::runtime_error(
      "fusednet.distribution: cannot load NCCL (libnccl.so.2) for CUDA data parallelism; install "
      "the nvidia-nccl-cu12 (or -cu13) wheel or put libnccl.so.2 on LD_LIBRARY_PATH. Tried:" + why);
}

bool loaded() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_handle != nullptr;
}

const Api& api() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_handle) throw std::runtime_error("fusednet.distribution: NCCL is not loaded (call nccl_load first)");
  return g_api;
}

int version() {
  int v = 0;
  check(api().GetVersion(&v), "ncclGetVersion");
  return v;
}

void check(Result r, const char* what) {
  if (r == 0) return;
  const char* s = g_api.GetErrorString ? g_api.GetErrorString(r) : "unknown";
  throw std::runtime_error(std::string(what) + ": NCCL error " + std::to_string(r) + ": " + (s ? s : "unknown"));
}

}  // namespace fusednet::nccl
