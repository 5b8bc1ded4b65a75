/* What guest_prog's fork_exec row executes: a static program without libc
 * that exits 0 at once, so the row measures fork + exec + exit + wait. */
void _start(void) {
  __asm__ volatile("mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall" ::
                       : "rax", "rdi", "rcx", "r11", "memory");
  __builtin_unreachable();
}
