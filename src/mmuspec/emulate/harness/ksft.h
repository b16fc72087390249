/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kselftest.h calls the mmuspec harnesses use.  In a kernel tree, the harness
 * includes tools/testing/selftests/kselftest.h instead (it is found first), so the same
 * file drops into tools/testing/selftests/kvm or .../mm unchanged.
 */
#ifndef MMUSPEC_KSFT_H
#define MMUSPEC_KSFT_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int ksft_fails;

static inline void ksft_print_header(void) { printf("TAP version 13\n"); fflush(stdout); }
static inline void ksft_set_plan(unsigned int n) { printf("1..%u\n", n); fflush(stdout); }

static inline void ksft_print_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static unsigned int ksft_number;

static inline void ksft_test_result(int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("%s %u ", pass ? "ok" : "not ok", ++ksft_number);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	if (!pass)
		ksft_fails++;
}

static inline void __attribute__((noreturn)) ksft_exit_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("ok %u # SKIP ", ++ksft_number);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	exit(4);
}

static inline int ksft_finished(void)
{
	printf("# Totals: pass:%u fail:%d\n", ksft_number - ksft_fails, ksft_fails);
	fflush(stdout);
	exit(ksft_fails ? 1 : 0);
}
#endif
