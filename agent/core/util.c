#include <wgfwd/util.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Out of line on purpose: inlined, gcc's bound checks misread the cut as an overread. */
void wf_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	while (n + 1 < size && src[n])
		n++;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* An array of half a huge page or more is backed by transparent huge pages where the kernel
 * allows it (the `madvise' setting): a start-up's 10,000 forwards fill megabytes at once, and
 * a fault per 4 KiB page (microseconds each in a virtual machine) costs more than filling
 * them. Fresh ones are rounded up to whole huge pages, so half of one is the most wasted. */
#define HUGE_PAGE  ((uintptr_t)2 << 20)
#define HUGE_ARRAY (HUGE_PAGE / 2)

static void advise_huge_pages(void *v, size_t len)
{
	uintptr_t lo = ((uintptr_t)v + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	uintptr_t hi = ((uintptr_t)v + len) & ~(HUGE_PAGE - 1);

	/* Only whole huge pages inside the array: nothing beyond it is backed. Advice only:
	 * where it is refused, the pages come one by one as before. */
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

int wf_array_reserve(void *arrp, size_t *cap, size_t n, size_t more, size_t size)
{
	size_t new_cap = *cap ? *cap : 8;
	void *v;

	if (n > *cap || more > SIZE_MAX / size - n)
		return -ENOMEM;
	if (n + more <= *cap)
		return 0;
	/* Doubling for appends one by one; a reservation beyond that (a start-up's thousands of
	 * forwards) is taken as asked, not rounded up to twice as much memory. */
	if (*cap)
		new_cap = *cap > SIZE_MAX / 2 ? n + more : *cap * 2;
	if (new_cap < n + more)
		new_cap = n + more;
	/* The caller's pointer is of its own element type: copied, not cast, to reach it. */
	memcpy(&v, arrp, sizeof(v));
	if (!v) {
		/* Fresh memory from the kernel is already zero, and calloc knows it: the pages are
		 * touched only as the caller fills them. */
		if (new_cap * size >= HUGE_ARRAY) {
			/* aligned, so that all of it can be huge pages, not only its middle */
			size_t bytes = (new_cap * size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);

			v = aligned_alloc(HUGE_PAGE, bytes);
			if (!v)
				return -ENOMEM;
			advise_huge_pages(v, bytes);
			memset(v, 0, new_cap * size);
		} else {
			v = calloc(new_cap, size);
			if (!v)
				return -ENOMEM;
		}
	} else {
		v = reallocarray(v, new_cap, size);
		if (!v)
			return -ENOMEM;
		if (new_cap * size >= HUGE_ARRAY)
			advise_huge_pages(v, new_cap * size);
		memset((char *)v + *cap * size, 0, (new_cap - *cap) * size);
	}
	memcpy(arrp, &v, sizeof(v));
	*cap = new_cap;
	return 0;
}

/* The first element e with cmp(e, key) >= at_least: along a sorted array those are a tail. */
static size_t first_where(const void *base, size_t n, size_t size, const void *key, wf_key_cmp cmp,
                          int at_least)
{
	const char *a = base;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp(a + mid * size, key) < at_least)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t wf_lower_bound(const void *base, size_t n, size_t size, const void *key, wf_key_cmp cmp)
{
	return first_where(base, n, size, key, cmp, 0);
}

size_t wf_upper_bound(const void *base, size_t n, size_t size, const void *key, wf_key_cmp cmp)
{
	return first_where(base, n, size, key, cmp, 1);
}
