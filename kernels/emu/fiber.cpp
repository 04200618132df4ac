// The emulator's execution engine: fibers, the per-block scheduler, barriers, warp intrinsics,
// shared memory and the kernel launch. See kernels/emu/README.md for the model and its guarantees.
//
// One OS thread runs one block at a time; the block's CUDA threads are fibers on that OS thread.
// The scheduler works in phases: it resumes every runnable fiber once (in the order the Config
// asks for), each fiber runs until it blocks (a barrier, a warp op, or the kernel's end), then the
// scheduler releases whatever barrier is complete and starts the next phase. If nothing can be
// released and not every fiber has exited, the block is stuck: a barrier in divergent code or a
// deadlock, reported as abbe::Error naming the kernel, the block and which threads wait where.
#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "graph/error.h"
#include "kernels/emu/context.h"
#include "kernels/emu/runtime.h"

namespace abbe::emu {
namespace {

// Fiber stacks of one OS thread: one mapping, reused by every block; each stack has a
// PROT_NONE guard page below it, so an overflow faults instead of corrupting a neighbour.
class Stacks {
 public:
  Stacks() = default;
  Stacks(const Stacks&) = delete;
  Stacks& operator=(const Stacks&) = delete;
  ~Stacks() { release(); }
  void ensure(std::size_t count, std::size_t stack_bytes) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t usable = (std::max<std::size_t>(stack_bytes, 16 * 1024) + page - 1) / page * page;
    if (count <= count_ && usable == usable_) return;
    release();
    count = (count + 255) / 256 * 256;  // grow in steps so that block sizes 256, 512, ... do not remap
    slot_ = usable + page;
    void* p = mmap(nullptr, slot_ * count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ABBE_CHECK(p != MAP_FAILED, "CUDA emulator: cannot map ", count, " fiber stacks of ", usable, " bytes");
    base_ = static_cast<char*>(p);
    for (std::size_t i = 0; i < count; ++i) mprotect(base_ + i * slot_, page, PROT_NONE);
    count_ = count;
    usable_ = usable;
    page_ = page;
  }
  char* lo(std::size_t i) const { return base_ + i * slot_ + page_; }
  char* hi(std::size_t i) const { return base_ + (i + 1) * slot_; }

 private:
  void release() {
    if (base_) munmap(base_, slot_ * count_);
    base_ = nullptr;
    count_ = usable_ = 0;
  }
  char* base_ = nullptr;
  std::size_t count_ = 0, usable_ = 0, slot_ = 0, page_ = 0;
};

enum class State : unsigned char { ready, block_wait, warp_wait, done };

struct Fiber {
  Context ctx;
  uint3 tid{};
  unsigned rank = 0;  // linear index in the block; lane = rank % 32, warp = rank / 32
  State state = State::done;
  // What the fiber waits at (valid while state is block_wait or warp_wait).
  std::source_location where;
  WarpOp op = WarpOp::syncwarp;
  BlockOp bop = BlockOp::sync;
  unsigned mask = 0, arg = 0;
  int width = 32, pred = 0;
  std::uint64_t value = 0, result = 0;
};

struct SharedVar {
  const void* key;
  std::size_t offset, bytes;
};

constexpr std::size_t kArenaBytes = 2 * kSharedPerBlockOptin;
constexpr std::size_t kArenaAlign = 128;

// Everything one OS thread needs to run blocks; created on first use, reused for its lifetime.
struct Worker {
  Stacks stacks;
  std::vector<Fiber> fibers;
  Context scheduler;
  Fiber* current = nullptr;  // the running fiber, or null on the scheduler's own stack
  const LaunchSpec* spec = nullptr;
  Config config;
  std::size_t max_dynamic = kSharedPerBlock;
  unsigned n = 0;  // threads per block
  std::uint64_t block = 0;
  unsigned n_done = 0, n_block_wait = 0, n_warp_wait = 0;
  int block_result = 0;
  // Shared memory: [dynamic | static variables in order of first use], poisoned per block.
  std::unique_ptr<unsigned char[]> arena_storage;
  unsigned char* arena = nullptr;
  std::size_t static_begin = 0, static_end = 0;
  std::vector<SharedVar> shared_vars;
  // A failure inside a fiber, raised by the scheduler once the fiber has switched back.
  std::string error;
  const char* error_expr = nullptr;
  std::exception_ptr exception;
  LaunchStats stats;
};

thread_local Worker* t_worker = nullptr;
thread_local LaunchStats t_last_stats;
Config g_config;

Worker& thread_worker() {
  thread_local Worker w;
  t_worker = &w;
  return w;
}

std::string dims(dim3 d) { return detail::concat("(", d.x, ",", d.y, ",", d.z, ")"); }

std::string where_str(const std::source_location& l) {
  const char* f = l.file_name();
  const char* slash = std::strrchr(f, '/');
  return detail::concat(slash ? slash + 1 : f, ":", l.line());
}

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::shfl_idx: return "abbe_shfl";
    case WarpOp::shfl_up: return "abbe_shfl_up";
    case WarpOp::shfl_down: return "abbe_shfl_down";
    case WarpOp::shfl_xor: return "abbe_shfl_xor";
    case WarpOp::ballot: return "abbe_ballot";
    case WarpOp::any: return "abbe_any";
    case WarpOp::all: return "abbe_all";
    case WarpOp::syncwarp: return "abbe_syncwarp";
  }
  return "?";
}

// "0..15, 32, 40..47": thread ranks as ranges, for error messages.
std::string ranges(const std::vector<unsigned>& ranks) {
  std::string s;
  int shown = 0;
  for (std::size_t i = 0; i < ranks.size(); ++shown) {
    std::size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (shown == 8) return s + ", ...";
    s += detail::concat(shown ? ", " : "", ranks[i]);
    if (j > i) s += detail::concat("..", ranks[j]);
    i = j + 1;
  }
  return s;
}

[[noreturn]] void raise(const Worker& w, const char* expr, const std::string& msg) {
  detail::check_failed(w.spec->file, w.spec->line, expr,
                       detail::concat("CUDA emulator: kernel '", w.spec->kernel_name, "' block ", dims(blockIdx), ": ", msg));
}

// Errors found inside a fiber: park the fiber for good and let the scheduler raise.
[[noreturn]] void fail_in_fiber(Worker& w, const char* expr, std::string msg) {
  w.error = std::move(msg);
  w.error_expr = expr;
  context_switch(w.current->ctx, w.scheduler);
  std::abort();  // an aborted fiber is never resumed
}

Worker& in_kernel(const char* what) {
  Worker* w = t_worker;
  if (!w || !w->current) ABBE_FAIL("CUDA emulator: ", what, " called outside a kernel launched with ABBE_LAUNCH");
  return *w;
}

void resume(Worker& w, Fiber& f) {
  threadIdx = f.tid;
  w.current = &f;
  ++w.stats.fiber_resumes;
  context_switch(w.scheduler, f.ctx);
  w.current = nullptr;
  if (w.exception) [[unlikely]] {
    std::exception_ptr e = std::move(w.exception);
    w.exception = nullptr;
    std::rethrow_exception(e);
  }
  if (!w.error.empty()) [[unlikely]] {
    const std::string msg = detail::concat("thread ", dims(f.tid), ": ", w.error);
    w.error.clear();
    raise(w, w.error_expr, msg);
  }
}

// Source lane of a shuffle, exactly as PTX shfl.sync computes it (bval = b[4:0], segmask =
// c[12:8] = 32 - width, clamp c[4:0] = 0 for up and 31 otherwise); out of range -> own lane.
unsigned shfl_source(WarpOp op, unsigned lane, unsigned b, int width) {
  const int bval = static_cast<int>(b & 31u);
  const int seg = (32 - width) & 31;
  const int ln = static_cast<int>(lane);
  const int min_lane = ln & seg;
  const int max_lane = (ln & seg) | ((op == WarpOp::shfl_up ? 0 : 31) & ~seg);
  int j = ln;
  bool ok = false;
  switch (op) {
    case WarpOp::shfl_up: j = ln - bval; ok = j >= max_lane; break;
    case WarpOp::shfl_down: j = ln + bval; ok = j <= max_lane; break;
    case WarpOp::shfl_xor: j = ln ^ bval; ok = j <= max_lane; break;
    case WarpOp::shfl_idx: j = min_lane | (bval & ~seg); ok = j <= max_lane; break;
    default: break;
  }
  return static_cast<unsigned>(ok ? j : ln);
}

// All lanes of `group` (a warp starting at `base`) wait at the same op with the same mask: compute
// every lane's result from the values deposited before anyone runs again, then release them.
void finish_warp_op(Worker& w, unsigned base, unsigned group) {
  Fiber* lanes = &w.fibers[base];
  unsigned ballot = 0;
  for (unsigned m = group; m; m &= m - 1) {
    const unsigned j = static_cast<unsigned>(std::countr_zero(m));
    if (lanes[j].pred) ballot |= 1u << j;
  }
  for (unsigned m = group; m; m &= m - 1) {
    const unsigned j = static_cast<unsigned>(std::countr_zero(m));
    Fiber& f = lanes[j];
    switch (f.op) {
      case WarpOp::ballot: f.result = ballot; break;
      case WarpOp::any: f.result = ballot != 0; break;
      case WarpOp::all: f.result = ballot == group; break;
      case WarpOp::syncwarp: f.result = 0; break;
      default: {
        const unsigned src = shfl_source(f.op, j, f.arg, f.width);
        // A source outside the mask (or beyond a partial last warp) is undefined on the GPU.
        f.result = (group >> src & 1u) ? lanes[src].value : ~std::uint64_t{0};
      }
    }
    f.state = State::ready;
  }
  w.n_warp_wait -= static_cast<unsigned>(std::popcount(group));
  ++w.stats.warp_barriers;
}

bool release_warps(Worker& w) {
  bool released = false;
  for (unsigned base = 0; base < w.n; base += 32) {
    const unsigned lanes = std::min(32u, w.n - base);
    const unsigned exist = lanes == 32 ? ~0u : (1u << lanes) - 1;
    for (unsigned l = 0; l < lanes; ++l) {
      const Fiber& f = w.fibers[base + l];
      if (f.state != State::warp_wait) continue;
      const unsigned group = f.mask & exist;
      bool complete = true;
      for (unsigned m = group; m; m &= m - 1) {
        const Fiber& g = w.fibers[base + static_cast<unsigned>(std::countr_zero(m))];
        if (g.state == State::done)
          raise(w, "every lane named in the mask reaches the warp op",
                detail::concat(op_name(f.op), " at ", where_str(f.where), " by thread ", dims(f.tid), " names lane ",
                               g.rank % 32, " (thread ", dims(g.tid), ") in its mask 0x", std::hex, f.mask, std::dec,
                               ", but that thread has exited"));
        if (g.state != State::warp_wait || g.mask != f.mask || g.op != f.op) complete = false;
      }
      if (!complete) continue;
      finish_warp_op(w, base, group);
      released = true;
    }
  }
  return released;
}

const char* barrier_name(BlockOp op) {
  switch (op) {
    case BlockOp::sync: return "__syncthreads()";
    case BlockOp::count: return "__syncthreads_count()";
    case BlockOp::and_: return "__syncthreads_and()";
    case BlockOp::or_: return "__syncthreads_or()";
  }
  return "?";
}

// The block cannot go on: say who waits where, threads grouped by what they wait at.
[[noreturn]] void raise_stuck(Worker& w, const char* expr, const char* headline) {
  std::vector<std::pair<std::string, std::vector<unsigned>>> groups;
  for (unsigned i = 0; i < w.n; ++i) {
    const Fiber& f = w.fibers[i];
    std::string what;
    if (f.state == State::done) what = "exited";
    else if (f.state == State::block_wait) what = detail::concat("wait at ", barrier_name(f.bop), " at ", where_str(f.where));
    else what = detail::concat("wait at ", op_name(f.op), "(mask 0x", std::hex, f.mask, std::dec, ") at ", where_str(f.where));
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == what; });
    if (it == groups.end()) groups.push_back({what, {i}});
    else it->second.push_back(i);
  }
  std::string msg = headline;
  for (std::size_t g = 0; g < groups.size(); ++g)
    msg += detail::concat(g ? "; " : "", "threads ", ranges(groups[g].second), " ", groups[g].first);
  raise(w, expr, msg + " (threads by linear index)");
}

// Every thread waits at a block barrier: it must be the same one (same variant, same line), as
// CUDA requires; then all are released together.
void release_block(Worker& w) {
  const Fiber& first = w.fibers[0];
  int count = 0;
  for (unsigned i = 0; i < w.n; ++i) {
    const Fiber& f = w.fibers[i];
    if (f.bop != first.bop || f.where.line() != first.where.line() ||
        std::strcmp(f.where.file_name(), first.where.file_name()) != 0)
      raise_stuck(w, "all threads reach the same __syncthreads()",
                  "threads wait at different barriers (a barrier in divergent code): ");
    count += f.pred != 0;
  }
  switch (first.bop) {
    case BlockOp::sync: w.block_result = 0; break;
    case BlockOp::count: w.block_result = count; break;
    case BlockOp::and_: w.block_result = count == static_cast<int>(w.n); break;
    case BlockOp::or_: w.block_result = count != 0; break;
  }
  for (unsigned i = 0; i < w.n; ++i) w.fibers[i].state = State::ready;
  w.n_block_wait = 0;
  ++w.stats.block_barriers;
}

bool descending(const Worker& w, unsigned phase) {
  switch (w.config.order) {
    case Order::ascending: return false;
    case Order::descending: return true;
    case Order::alternate: break;
  }
  return ((w.block + phase) & 1u) != 0;
}

void run_block(Worker& w, std::uint64_t b) {
  const LaunchSpec& s = *w.spec;
  w.block = b;
  blockIdx = uint3{static_cast<unsigned>(b % s.grid.x), static_cast<unsigned>(b / s.grid.x % s.grid.y),
                   static_cast<unsigned>(b / (std::uint64_t{s.grid.x} * s.grid.y))};
  w.shared_vars.clear();
  w.static_begin = w.static_end = (s.shared_bytes + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
  if (w.config.poison) std::memset(w.arena, 0xFF, s.shared_bytes);
  const unsigned bx = s.block.x, by = s.block.y;
  for (unsigned i = 0; i < w.n; ++i) {
    Fiber& f = w.fibers[i];
    f.tid = uint3{i % bx, i / bx % by, i / (bx * by)};
    f.rank = i;
    f.state = State::ready;
    context_init(f.ctx, w.stacks.lo(i), w.stacks.hi(i));
  }
  w.n_done = w.n_block_wait = w.n_warp_wait = 0;
  for (unsigned phase = 0;; ++phase) {
    const bool down = descending(w, phase);
    for (unsigned k = 0; k < w.n; ++k) {
      Fiber& f = w.fibers[down ? w.n - 1 - k : k];
      if (f.state == State::ready) resume(w, f);
    }
    if (w.n_done == w.n) break;
    if (w.n_warp_wait > 0) {
      if (release_warps(w)) continue;
    } else if (w.n_done == 0) {
      release_block(w);
      continue;
    }
    if (w.n_warp_wait == 0)
      raise_stuck(w, "every thread reaches each barrier", "a barrier that not every thread reaches (a barrier in divergent code): ");
    raise_stuck(w, "warp ops and barriers can complete", "deadlock: ");
  }
  w.stats.static_shared_bytes = std::max(w.stats.static_shared_bytes, w.static_end - w.static_begin);
  ++w.stats.blocks;
}

void prepare(Worker& w, const LaunchSpec& s, const Config& c) {
  w.spec = &s;
  w.config = c;
  w.max_dynamic = max_dynamic_shared(s.kernel);
  w.n = s.block.x * s.block.y * s.block.z;
  if (w.fibers.size() < w.n) w.fibers.resize(w.n);
  w.stacks.ensure(w.n, c.fiber_stack_bytes);
  if (!w.arena) {
    w.arena_storage = std::make_unique<unsigned char[]>(kArenaBytes + kArenaAlign);
    const auto p = reinterpret_cast<std::uintptr_t>(w.arena_storage.get());
    w.arena = w.arena_storage.get() + ((kArenaAlign - p % kArenaAlign) % kArenaAlign);
  }
  blockDim = s.block;
  gridDim = s.grid;
  w.stats = LaunchStats{};
  w.error.clear();
  w.exception = nullptr;
}

}  // namespace

Config config() { return g_config; }

void set_config(const Config& c) {
  ABBE_CHECK(c.fiber_stack_bytes >= 16 * 1024, "CUDA emulator: fiber stacks need at least 16 KiB, got ", c.fiber_stack_bytes);
  ABBE_CHECK(c.os_threads >= 0, "CUDA emulator: os_threads must be >= 0 (0 = all), got ", c.os_threads);
  g_config = c;
}

LaunchStats last_launch_stats() { return t_last_stats; }

std::uint64_t warp_op(WarpOp op, unsigned mask, std::uint64_t bits, unsigned arg, int width, int pred,
                      const std::source_location& where) {
  Worker& w = in_kernel(op_name(op));
  Fiber& f = *w.current;
  const unsigned lane = f.rank % 32;
  if (!(mask >> lane & 1u))
    fail_in_fiber(w, "mask & (1u << lane)",
                  detail::concat(op_name(op), " at ", where_str(where), ": the calling lane ", lane,
                                 " is not in its own mask 0x", std::hex, mask));
  if (width < 1 || width > 32 || !std::has_single_bit(static_cast<unsigned>(width)))
    fail_in_fiber(w, "width is a power of two in [1, 32]",
                  detail::concat(op_name(op), " at ", where_str(where), ": width ", width, " is not a power of two in [1, 32]"));
  f.op = op;
  f.mask = mask;
  f.value = bits;
  f.arg = arg;
  f.width = width;
  f.pred = pred;
  f.where = where;
  f.state = State::warp_wait;
  ++w.n_warp_wait;
  context_switch(f.ctx, w.scheduler);
  return f.result;
}

int block_barrier(BlockOp op, int pred, const std::source_location& where) {
  Worker& w = in_kernel("__syncthreads()");
  Fiber& f = *w.current;
  f.bop = op;
  f.pred = pred;
  f.where = where;
  f.state = State::block_wait;
  ++w.n_block_wait;
  context_switch(f.ctx, w.scheduler);
  return w.block_result;  // set by release_block before any fiber resumes
}

void* shared_static(const void* key, std::size_t bytes, std::size_t align, const char* name) {
  Worker& w = in_kernel("ABBE_SHARED");
  for (const SharedVar& v : w.shared_vars)
    if (v.key == key) return w.arena + v.offset;
  align = std::max<std::size_t>(align, 16);
  const std::size_t offset = (w.static_end + align - 1) / align * align;
  const std::size_t static_bytes = offset + bytes - w.static_begin;
  const std::size_t dynamic = w.spec->shared_bytes;
  if (static_bytes > kSharedPerBlock)
    fail_in_fiber(w, "static shared memory <= 48 KiB",
                  detail::concat("ABBE_SHARED '", name, "' brings static shared memory to ", static_bytes,
                                 " bytes, over the 48 KiB a kernel may declare statically"));
  const std::size_t limit = w.max_dynamic > kSharedPerBlock ? kSharedPerBlockOptin : kSharedPerBlock;
  if (static_bytes + dynamic > limit)
    fail_in_fiber(w, "static + dynamic shared memory <= limit",
                  detail::concat("ABBE_SHARED '", name, "': ", static_bytes, " bytes static + ", dynamic,
                                 " bytes dynamic shared memory exceed the ", limit, "-byte limit per block",
                                 limit == kSharedPerBlock ? " (opt in with cudaFuncSetAttribute(kernel, "
                                                            "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes))"
                                                          : ""));
  if (w.config.poison) std::memset(w.arena + offset, 0xFF, bytes);
  w.shared_vars.push_back(SharedVar{key, offset, bytes});
  w.static_end = offset + bytes;
  return w.arena + offset;
}

void* shared_dynamic() {
  Worker& w = in_kernel("ABBE_DYNAMIC_SHARED");
  return w.spec->shared_bytes ? w.arena : nullptr;  // no dynamic shared memory: fault on first use
}

unsigned lane_id() { return in_kernel("abbe_lane_id").current->rank % 32; }

void launch_kernel(const LaunchSpec& s) {
  const dim3 g = s.grid, b = s.block;
  auto check = [&](bool ok, const char* expr, const std::string& why) {
    if (ok) [[likely]] return;
    detail::check_failed(s.file, s.line, expr,
                         detail::concat("CUDA emulator: launch of kernel '", s.kernel_name, "' with grid ", dims(g),
                                        ", block ", dims(b), " and ", s.shared_bytes, " bytes of dynamic shared memory failed: ", why));
  };
  check(!(t_worker && t_worker->current), "not in a kernel", "launches from device code (dynamic parallelism) are not emulated");
  const std::uint64_t threads = std::uint64_t{b.x} * b.y * b.z;
  check(b.x >= 1 && b.y >= 1 && b.z >= 1, "block dims >= 1", "a block dimension is 0 (cudaErrorInvalidConfiguration)");
  check(threads <= kMaxThreadsPerBlock, "block.x * block.y * block.z <= 1024",
        detail::concat(threads, " threads per block exceed the limit of 1024 (cudaErrorInvalidConfiguration)"));
  check(b.x <= kMaxThreadsPerBlock && b.y <= kMaxThreadsPerBlock && b.z <= kMaxBlockDimZ, "block dims <= (1024,1024,64)",
        "a block dimension exceeds (1024,1024,64) (cudaErrorInvalidConfiguration)");
  check(g.x >= 1 && g.y >= 1 && g.z >= 1, "grid dims >= 1", "a grid dimension is 0 (cudaErrorInvalidConfiguration)");
  check(g.x <= kMaxGridDimX && g.y <= kMaxGridDimYZ && g.z <= kMaxGridDimYZ, "grid dims <= (2^31-1,65535,65535)",
        "a grid dimension exceeds (2147483647,65535,65535) (cudaErrorInvalidConfiguration)");
  const std::size_t max_dynamic = max_dynamic_shared(s.kernel);
  check(s.shared_bytes <= max_dynamic, "shared_bytes <= max dynamic shared memory",
        detail::concat("dynamic shared memory exceeds the kernel's limit of ", max_dynamic, " bytes",
                       max_dynamic == kSharedPerBlock ? " (opt in with cudaFuncSetAttribute)" : ""));
  check(s.stream == nullptr || is_live_stream(s.stream), "stream is live", "the stream was destroyed or never created");
  for (int i = 0; i < s.num_pointer_args; ++i) {
    const PointerArg& a = s.pointer_args[i];
    check(is_device_accessible(a.value), "is_device_accessible(argument)",
          detail::concat("argument ", a.index, " (", a.value, ") is not device memory: a host pointer passed to a "
                         "kernel (allocate with cudaMalloc, cudaMallocHost or cudaMallocManaged)"));
  }

  const Config c = g_config;
  const std::uint64_t blocks = std::uint64_t{g.x} * g.y * g.z;
  const int wanted = c.os_threads > 0 ? c.os_threads : omp_get_max_threads();
  const int teams = static_cast<int>(std::min<std::uint64_t>(static_cast<std::uint64_t>(std::max(wanted, 1)), blocks));
  // After a failure, blocks below the failing one still run, so the error reported is always the
  // lowest-numbered failing block's, whatever the timing of the OS threads.
  std::atomic<std::uint64_t> error_block{std::numeric_limits<std::uint64_t>::max()};
  std::mutex mutex;
  std::exception_ptr first_error;
  LaunchStats total;
  // Blocks are dealt round-robin (static schedule): deterministic, and with >= 2 blocks every OS
  // thread of the team runs some, so cross-thread atomics are really exercised.
#pragma omp parallel num_threads(teams)
  {
    Worker& w = thread_worker();
    std::uint64_t blk = static_cast<std::uint64_t>(omp_get_thread_num());
    try {
      prepare(w, s, c);
      for (; blk < blocks && blk < error_block.load(std::memory_order_relaxed);
           blk += static_cast<std::uint64_t>(omp_get_num_threads()))
        run_block(w, blk);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (blk < error_block.load(std::memory_order_relaxed)) {
        error_block.store(blk, std::memory_order_relaxed);
        first_error = std::current_exception();
      }
    }
    w.spec = nullptr;
    w.current = nullptr;
    std::lock_guard<std::mutex> lock(mutex);
    total.os_threads = omp_get_num_threads();
    total.blocks += w.stats.blocks;
    total.fiber_resumes += w.stats.fiber_resumes;
    total.block_barriers += w.stats.block_barriers;
    total.warp_barriers += w.stats.warp_barriers;
    total.static_shared_bytes = std::max(total.static_shared_bytes, w.stats.static_shared_bytes);
  }
  t_last_stats = total;
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace abbe::emu

// The bottom of every fiber: run the kernel body with this fiber's copy of the arguments, then
// report completion. Exceptions must not unwind past this frame (there is nothing below it), so
// they are parked for the scheduler to rethrow on its own stack.
extern "C" void abbe_emu_fiber_main() {
  using namespace abbe::emu;
  Worker& w = *t_worker;
  try {
    w.spec->invoke(w.spec->args);
  } catch (...) {
    w.exception = std::current_exception();
  }
  Fiber& f = *w.current;
  f.state = State::done;
  ++w.n_done;
  context_switch(f.ctx, w.scheduler);
  std::abort();
}
