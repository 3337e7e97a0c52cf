#include <wgfwd/util.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Out of line on purpose: inlined, gcc's bound checks misread the cut as an overread. */
void wf_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	while (n + 1 < size && src[n])
		n++;
	memcpy(dst, src, n);
	dst[n] = '\0';
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
		v = calloc(new_cap, size);
		if (!v)
			return -ENOMEM;
	} else {
		v = reallocarray(v, new_cap, size);
		if (!v)
			return -ENOMEM;
		memset((char *)v + *cap * size, 0, (new_cap - *cap) * size);
	}
	memcpy(arrp, &v, sizeof(v));
	*cap = new_cap;
	return 0;
}
