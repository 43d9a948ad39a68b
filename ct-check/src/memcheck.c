/* Valgrind client requests for the constant-time check, through valgrind's
 * own header (package valgrind). Outside valgrind each request is a few
 * no-op instructions returning 0. */
#include <stddef.h>
#include <valgrind/memcheck.h>

void ct_make_mem_undefined(void *addr, size_t len) { VALGRIND_MAKE_MEM_UNDEFINED(addr, len); }

void ct_make_mem_defined(void *addr, size_t len) { VALGRIND_MAKE_MEM_DEFINED(addr, len); }

unsigned long ct_running_on_valgrind(void) { return RUNNING_ON_VALGRIND; }

unsigned long ct_count_errors(void) { return VALGRIND_COUNT_ERRORS; }
