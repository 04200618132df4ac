// Fiber creation and, on x86-64, the context switch itself (see context.h).
#include "kernels/emu/context.h"

#include <cstdint>

#if ABBE_EMU_ASM_SWITCH
// abbe_emu_switch(save, load): push the callee-saved registers (and the SSE/x87 control words) on
// the current stack, store the stack pointer in *save, switch to `load` and pop the same frame
// from there: ~20 instructions instead of swapcontext's signal-mask system call, which makes the
// emulator's inner loop ~10x slower. A new fiber's first frame "returns" into
// abbe_emu_fiber_start, whose CFI marks the bottom of the fiber's stack for unwinders.
extern "C" void abbe_emu_fiber_start();
asm(R"(
    .pushsection .text
    .p2align 4
    .globl abbe_emu_switch
    .hidden abbe_emu_switch
    .type abbe_emu_switch, @function
abbe_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size abbe_emu_switch, .-abbe_emu_switch

    .p2align 4
    .globl abbe_emu_fiber_start
    .hidden abbe_emu_fiber_start
    .type abbe_emu_fiber_start, @function
abbe_emu_fiber_start:
    .cfi_startproc
    .cfi_undefined rip
    call abbe_emu_fiber_main
    ud2
    .cfi_endproc
    .size abbe_emu_fiber_start, .-abbe_emu_fiber_start
    .popsection
)");
#endif

namespace abbe::emu {

#if ABBE_EMU_ASM_SWITCH
void context_init(Context& c, char* lo, char* hi) {
  (void)lo;
  // Frame popped by abbe_emu_switch: [mxcsr|fpucw][r15 r14 r13 r12 rbx rbp][return address], and
  // after the `ret` the stack pointer is 16-byte aligned, as the call in fiber_start expects.
  auto* s = reinterpret_cast<std::uint64_t*>(reinterpret_cast<std::uintptr_t>(hi) & ~std::uintptr_t{15}) - 10;
  std::uint32_t mxcsr = 0;
  std::uint16_t fpucw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  s[0] = mxcsr | (std::uint64_t{fpucw} << 32);
  for (int i = 1; i < 7; ++i) s[i] = 0;
  s[7] = reinterpret_cast<std::uint64_t>(&abbe_emu_fiber_start);
  s[8] = s[9] = 0;
  c.sp = s;
}
#else
void context_init(Context& c, char* lo, char* hi) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = lo;
  c.uc.uc_stack.ss_size = static_cast<std::size_t>(hi - lo);
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, abbe_emu_fiber_main, 0);
}
#endif

}  // namespace abbe::emu
