// runtime.h — host-side view of the CUDA backend (plain C++: includable without nvcc).
//
// Only compiled when FUSEDNET_WITH_CUDA is defined. One stream per device; device memory comes
// from a caching allocator so the training loop performs no cudaMalloc after its first step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace fusednet::cuda {

bool is_available();           // false (never throws) with no driver, no device or a too-old driver
int device_count();            // 0 when unavailable
void set_device(int dev);
int current_device();         // the device set_device chose (0 by default)
std::string device_name(int dev);
void synchronize();            // waits for the current device's fusednet stream
void* stream();                // cudaStream_t of the current device, as void*

void* device_malloc(size_t nbytes, int dev);  // caching allocator; throws on OOM
void device_free(void* p, int dev);           // returns the block to the cache
void empty_cache();                           // gives cached blocks back to the driver
size_t memory_allocated();                    // bytes handed out and not yet freed
size_t memory_reserved();                     // bytes held by the cache (in use + free)

void memcpy_h2d(void* dst, const void* src, size_t nbytes);
void memcpy_d2h(void* dst, const void* src, size_t nbytes);
void memcpy_d2d(void* dst, const void* src, size_t nbytes);
void fill_bytes4(void* dst, uint32_t pattern, size_t count);   // count 4-byte words
void fill_bytes8(void* dst, uint64_t pattern, size_t count);   // count 8-byte words

}  // namespace fusednet::cuda
