#pragma once
// Fiber contexts of the CUDA emulator: a saved stack pointer, and the switch between two of them.
// On x86-64 the switch is ~20 instructions of assembly (context.cpp); elsewhere, or with
// -DABBE_EMU_UCONTEXT, it is POSIX ucontext: correct, but a barrier-heavy kernel runs ~10x slower
// (600 instead of 60 ns per fiber resume) because swapcontext makes a signal-mask system call.
#include <cstddef>

#if defined(__x86_64__) && !defined(ABBE_EMU_UCONTEXT)
#define ABBE_EMU_ASM_SWITCH 1
#else
#define ABBE_EMU_ASM_SWITCH 0
#include <ucontext.h>
#endif

// The bottom frame of every fiber (fiber.cpp): runs the kernel body, never returns.
extern "C" __attribute__((visibility("hidden"))) void abbe_emu_fiber_main();
#if ABBE_EMU_ASM_SWITCH
// Saves the callee-saved registers on the current stack, stores its pointer in *save, and resumes
// the context whose stack pointer is `load`.
extern "C" void abbe_emu_switch(void** save, void* load);
#endif

namespace abbe::emu {

#if ABBE_EMU_ASM_SWITCH
struct Context {
  void* sp = nullptr;
};
inline void context_switch(Context& from, Context& to) { abbe_emu_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
inline void context_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

// Makes `c` a fresh fiber on the stack [lo, hi) that starts in abbe_emu_fiber_main when first
// switched to. The floating-point control state is copied from the calling thread.
void context_init(Context& c, char* lo, char* hi);

}  // namespace abbe::emu
