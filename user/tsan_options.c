// SPDX-License-Identifier: GPL-2.0
/*
 * Linked into every program of a TSan build.  TSan's default is to sleep a
 * second in the main thread before exiting, so that threads still running
 * can race with exit-time code.  Every shadowmm program joins its threads
 * before it returns, and ctest runs each test case as its own process: the
 * sleep bought nothing and made the TSan stage more than 300 s longer.
 */
const char *__tsan_default_options(void);

const char *__tsan_default_options(void)
{
	return "atexit_sleep_ms=0";
}
