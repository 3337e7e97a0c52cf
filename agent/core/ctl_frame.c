#include <wgfwd/ctl_proto.h>

#include <errno.h>

int wf_ctl_frame_parse(const uint8_t *buf, size_t len, size_t max, size_t *body_len)
{
	uint32_t announced;

	if (len < WF_CTL_FRAME_HEADER_LEN)
		return 0;
	announced = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 |
	            (uint32_t)buf[3];
	if (announced == 0)
		return -EBADMSG;
	if (announced > max)
		return -EMSGSIZE;
	*body_len = announced;
	return len - WF_CTL_FRAME_HEADER_LEN >= announced;
}

void wf_ctl_frame_header(uint8_t out[WF_CTL_FRAME_HEADER_LEN], uint32_t body_len)
{
	out[0] = (uint8_t)(body_len >> 24);
	out[1] = (uint8_t)(body_len >> 16);
	out[2] = (uint8_t)(body_len >> 8);
	out[3] = (uint8_t)body_len;
}
