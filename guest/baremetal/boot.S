/* Multiboot (v1) entry of the bare-metal test guest.  QEMU's -kernel loader
 * enters here in 32-bit protected mode, paging off, with EAX holding the
 * multiboot magic and EBX the physical address of the info structure. */
#define MB_MAGIC 0x1BADB002
/* Flag bits are all zero: the image is ELF, so the loader takes the load
 * addresses from the program headers and needs no a.out kludge. */
#define MB_FLAGS 0x0

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text
	.globl _start
_start:
	cli
	cld
	/* The loader may leave .bss as it found memory; counters live there. */
	mov %eax, %esi
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $stack_top, %esp
	push %ebx
	push %esi
	call guest_main
1:	cli
	hlt
	jmp 1b

	.section .bss
	.align 16
	.space 16384
stack_top:
