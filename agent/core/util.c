#include <wgfwd/util.h>

/* Out of line on purpose: inlined, gcc's bound checks misread the cut as an overread. */
void wf_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	while (n + 1 < size && src[n])
		n++;
	memcpy(dst, src, n);
	dst[n] = '\0';
}
