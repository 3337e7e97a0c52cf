#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "wgfwd: not built yet\n");
	return 1;
}
