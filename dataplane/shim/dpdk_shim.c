/*
 * bng-dataplane's DPDK shim: the few DPDK calls the Rust backend needs, as plain
 * functions. rte_eth_rx_burst/rte_eth_tx_burst and the mbuf accessors are static inline
 * in DPDK's headers, so Rust cannot call them through FFI directly; everything else is
 * a thin wrapper so that the Rust side never depends on DPDK's struct layouts.
 *
 * Compiled by dataplane/build.rs (only with the `dpdk` cargo feature) against
 * pkg-config's libdpdk (Debian 12: libdpdk-dev 22.11).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>
#include <rte_version.h>

/* EAL arguments as argv; returns rte_eal_init's result (< 0: failure, rte_errno set). */
int bng_dpdk_eal_init(int argc, char **argv)
{
	return rte_eal_init(argc, argv);
}

int bng_dpdk_errno(void)
{
	return rte_errno;
}

const char *bng_dpdk_version(void)
{
	return rte_version();
}

/* Whether `port`'s driver is the net_af_xdp PMD (1) or not (0). */
int bng_dpdk_is_af_xdp(uint16_t port)
{
	struct rte_eth_dev_info info;

	return rte_eth_dev_info_get(port, &info) == 0 && info.driver_name != NULL &&
	       strcmp(info.driver_name, "net_af_xdp") == 0;
}

/*
 * A packet mbuf pool of n mbufs with the default data room (2048 + headroom), for
 * `port`; NULL on failure with rte_errno set.
 *
 * For a net_af_xdp port the pool is created with RTE_MEMPOOL_F_NO_IOVA_CONTIG, and must
 * be one memory chunk: the PMD (22.11, XDP_UMEM_UNALIGNED_CHUNK_FLAG path) registers the
 * RX pool as the socket's UMEM from its first chunk's address over populated_size *
 * object size bytes (get_base_addr / xdp_umem_configure), and also copies TX packets
 * into mbufs of that pool. rte_pktmbuf_pool_create's pools keep each object inside one
 * page when the EAL has no hugepages (--no-huge: 4 KiB pages, one ~2.4 KiB mbuf per
 * page), so they span ~1.7x what the PMD registers: the kernel then drops every TX
 * descriptor of an mbuf past the registered end as invalid (XDP_STATISTICS
 * tx_invalid_descs; 90% of forwarded packets under load) and skips such fill-ring
 * entries (RX fill ring empty: imissed). Packed objects make the pool exactly the
 * registered span. Other ports get rte_pktmbuf_pool_create's pool.
 */
struct rte_mempool *bng_dpdk_pool(const char *name, unsigned n, uint16_t port)
{
	struct rte_pktmbuf_pool_private priv;
	struct rte_mempool *mp;
	int rc;

	if (!bng_dpdk_is_af_xdp(port))
		return rte_pktmbuf_pool_create(name, n, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       (int)rte_socket_id());
	memset(&priv, 0, sizeof(priv));
	priv.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE;
	priv.mbuf_priv_size = 0;
	mp = rte_mempool_create_empty(name, n, sizeof(struct rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE,
				      256, sizeof(priv), (int)rte_socket_id(),
				      RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (mp == NULL)
		return NULL;
	rc = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (rc == 0) {
		rte_pktmbuf_pool_init(mp, &priv);
		rc = rte_mempool_populate_default(mp);
	}
	if (rc >= 0 && mp->nb_mem_chunks != 1)
		rc = -ENOMEM; /* the PMD would register only the first chunk */
	if (rc < 0) {
		rte_mempool_free(mp);
		rte_errno = -rc;
		return NULL;
	}
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;
}

/* The port id of an ethdev by name (e.g. "net_af_packet0"); 0 on success. */
int bng_dpdk_port_by_name(const char *name, uint16_t *port)
{
	return rte_eth_dev_get_port_by_name(name, port);
}

/*
 * Configures port with one RX and one TX queue of `ring` descriptors, starts it in
 * promiscuous mode (a gateway port sees every frame) and writes its MAC to mac[6].
 * 0 on success, else the failing call's negative error.
 */
int bng_dpdk_port_start(uint16_t port, struct rte_mempool *mp, uint16_t ring, uint8_t *mac)
{
	struct rte_eth_conf conf;
	struct rte_ether_addr addr;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc < 0)
		return rc;
	rc = rte_eth_rx_queue_setup(port, 0, ring, rte_eth_dev_socket_id(port), NULL, mp);
	if (rc < 0)
		return rc;
	rc = rte_eth_tx_queue_setup(port, 0, ring, rte_eth_dev_socket_id(port), NULL);
	if (rc < 0)
		return rc;
	rc = rte_eth_dev_start(port);
	if (rc < 0)
		return rc;
	(void)rte_eth_promiscuous_enable(port);
	rc = rte_eth_macaddr_get(port, &addr);
	if (rc < 0)
		return rc;
	memcpy(mac, addr.addr_bytes, 6);
	return 0;
}

void bng_dpdk_port_stop(uint16_t port)
{
	(void)rte_eth_dev_stop(port);
	(void)rte_eth_dev_close(port);
}

/*
 * Receives up to n packets of queue 0 and copies each single-segment one into
 * bufs[i] (caps[i] bytes room), writing its length to lens[i]; returns how many were
 * copied. Multi-segment or too long packets are dropped and counted in *dropped. All
 * mbufs are freed here.
 */
uint16_t bng_dpdk_rx_copy(uint16_t port, uint8_t *const *bufs, const uint16_t *caps,
			  uint16_t *lens, uint16_t n, uint64_t *dropped)
{
	struct rte_mbuf *m[256];
	uint16_t got, i, k = 0;

	if (n > 256)
		n = 256;
	got = rte_eth_rx_burst(port, 0, m, n);
	for (i = 0; i < got; i++) {
		uint16_t len = rte_pktmbuf_data_len(m[i]);
		if (m[i]->nb_segs == 1 && len <= caps[k]) {
			memcpy(bufs[k], rte_pktmbuf_mtod(m[i], const uint8_t *), len);
			lens[k] = len;
			k++;
		} else {
			(*dropped)++;
		}
	}
	if (got)
		rte_pktmbuf_free_bulk(m, got);
	return k;
}

/*
 * The port's ethdev counters: out[0..6] = ipackets, opackets, imissed (dropped by the
 * device/PMD: RX ring full), ierrors, oerrors, rx_nombuf (no mbuf to refill RX). 0 on
 * success.
 */
int bng_dpdk_stats(uint16_t port, uint64_t *out)
{
	struct rte_eth_stats st;
	int rc = rte_eth_stats_get(port, &st);

	if (rc < 0)
		return rc;
	out[0] = st.ipackets;
	out[1] = st.opackets;
	out[2] = st.imissed;
	out[3] = st.ierrors;
	out[4] = st.oerrors;
	out[5] = st.rx_nombuf;
	return 0;
}

/*
 * Copies n frames (datas[i], lens[i]) into mbufs from mp and transmits them on queue
 * 0; returns how many the driver took (the rest are freed here). A partial burst is
 * retried while the driver keeps taking packets and at most `retries` times without
 * progress: the vdevs' TX rings (net_af_packet's TPACKET ring, net_af_xdp's TX ring)
 * take a burst in parts when the kernel has not yet released their slots, and
 * dropping the rest of every partial burst lost packets under load.
 */
uint16_t bng_dpdk_tx_copy(uint16_t port, struct rte_mempool *mp, const uint8_t *const *datas,
			  const uint16_t *lens, uint16_t n, uint16_t retries)
{
	struct rte_mbuf *m[256];
	uint16_t i, sent;

	if (n > 256)
		n = 256;
	if (n == 0 || rte_pktmbuf_alloc_bulk(mp, m, n) != 0)
		return 0;
	for (i = 0; i < n; i++) {
		char *d = rte_pktmbuf_append(m[i], lens[i]);
		if (d == NULL) {
			/* longer than an mbuf's room: send nothing of this burst past here */
			rte_pktmbuf_free_bulk(&m[i], n - i);
			n = i;
			break;
		}
		memcpy(d, datas[i], lens[i]);
	}
	sent = rte_eth_tx_burst(port, 0, m, n);
	for (i = 0; sent < n && i < retries;) {
		uint16_t more = rte_eth_tx_burst(port, 0, &m[sent], n - sent);
		sent += more;
		if (more == 0)
			i++;
	}
	if (sent < n)
		rte_pktmbuf_free_bulk(&m[sent], n - sent);
	return sent;
}

struct obj_end_arg {
	uintptr_t end;
};

static void obj_end(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct obj_end_arg *a = arg;
	uintptr_t e = (uintptr_t)obj + mp->elt_size + mp->trailer_size;

	(void)idx;
	if (e > a->end)
		a->end = e;
}

/*
 * A pool's layout against the UMEM the net_af_xdp PMD (22.11) registers for it:
 * out[0] = memory chunks, out[1] = bytes from the first chunk's page start to the end
 * of its last object, out[2] = the bytes the PMD registers (populated_size * object
 * size + the first chunk's offset in its page). Every mbuf is usable as a UMEM frame
 * only if out[1] <= out[2] (and out[0] == 1). 0 on success.
 */
int bng_dpdk_pool_layout(struct rte_mempool *mp, uint64_t *out)
{
	struct rte_mempool_memhdr *hdr = STAILQ_FIRST(&mp->mem_list);
	struct obj_end_arg a = { 0 };
	uintptr_t first, base;

	if (hdr == NULL)
		return -EINVAL;
	first = (uintptr_t)hdr->addr;
	base = first & ~((uintptr_t)getpagesize() - 1);
	(void)rte_mempool_obj_iter(mp, obj_end, &a);
	out[0] = mp->nb_mem_chunks;
	out[1] = a.end > base ? a.end - base : 0;
	out[2] = (uint64_t)mp->populated_size *
			 rte_mempool_calc_obj_size(mp->elt_size, mp->flags, NULL) +
		 (first - base);
	return 0;
}
