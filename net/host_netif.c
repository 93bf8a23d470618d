/* Tern's lwIP netif on the vswitch host port (see host_netif.h). */
#include <errno.h>
#include <string.h>

#include "drivers/nic.h"
#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "net/host_netif.h"
#include "netif/ethernet.h"

/* lwIP -> switch. lwIP hands a pbuf chain that it still owns; the switch
 * wants one contiguous frame, so it is gathered into a buffer on the stack
 * (no allocation on the packet path). */
static err_t host_linkoutput(struct netif *netif, struct pbuf *p)
{
	struct host_netif *h = netif->state;
	uint8_t frame[NIC_FRAME_MAX];

	if (p->tot_len > sizeof(frame))
		return ERR_BUF;
	if (pbuf_copy_partial(p, frame, p->tot_len, 0) != p->tot_len)
		return ERR_BUF;
	vswitch_input(h->sw, h->port, frame, p->tot_len);
	return ERR_OK;
}

/* Switch -> lwIP. The frame is the switch's for this call only, so it is
 * copied into a pool pbuf, which lwIP then owns. lwIP may answer from
 * inside input (an ARP reply), re-entering the switch: the switch allows it. */
static int host_port_tx(void *ctx, const uint8_t *frame, size_t len)
{
	struct host_netif *h = ctx;
	struct pbuf *p;

	if (len > NIC_FRAME_MAX)
		return -EINVAL;
	p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
	if (!p) {
		h->rx_nobuf++;
		return -ENOMEM;
	}
	if (pbuf_take(p, frame, (u16_t)len) != ERR_OK || h->netif.input(p, &h->netif) != ERR_OK) {
		pbuf_free(p);
		return -EIO;
	}
	return 0;
}

static err_t host_netif_setup(struct netif *netif)
{
	netif->name[0] = 't';
	netif->name[1] = 'n';
	netif->mtu = 1500;
	netif->hwaddr_len = ETH_ALEN;
	netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
	netif->output = etharp_output;
	netif->linkoutput = host_linkoutput;
	return ERR_OK;
}

int host_netif_init(struct host_netif *h, struct vswitch *sw, const uint8_t *mac)
{
	memset(h, 0, sizeof(*h));
	h->sw = sw;
	h->port = vswitch_port_add(sw, VSWITCH_PORT_HOST, "tern", host_port_tx, h);
	if (h->port < 0)
		return h->port;
	memcpy(h->netif.hwaddr, mac, ETH_ALEN);
	if (!netif_add_noaddr(&h->netif, h, host_netif_setup, ethernet_input)) {
		vswitch_port_remove(sw, h->port);
		return -EIO;
	}
	netif_set_default(&h->netif);
	netif_set_up(&h->netif);
	/* The switch is always there; the uplink's carrier is the NIC's own. */
	netif_set_link_up(&h->netif);
	return 0;
}

int host_netif_set_ip(struct host_netif *h, uint32_t ip, uint32_t mask, uint32_t gw)
{
	ip4_addr_t a, m, g;
	const uint8_t *b = (const uint8_t *)&ip;

	if (ip == 0 || b[0] >= 224)
		return -EINVAL;
	a.addr = ip;
	m.addr = mask;
	g.addr = gw;
	netif_set_addr(&h->netif, &a, &m, &g);
	return 0;
}
