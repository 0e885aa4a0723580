/**
 * ceph.conf for a throwaway single-node Ceph (1 mon, 1 memstore OSD, 1 radosgw) confined to one directory.
 * Each setting below is there because a default got in the way on a loaded 2-core test machine.
 */
export interface CephConfigInput {
  readonly fsid: string;
  readonly dir: string;
  readonly monPort: number;
  readonly rgwPort: number;
  /** RAM the memstore OSD may hold (object data lives in memory). */
  readonly memstoreBytes: number;
}

export function cephConfig({ fsid, dir, monPort, rgwPort, memstoreBytes }: CephConfigInput): string {
  return `[global]
fsid = ${fsid}
# The messenger v2 protocol would want a second port and its own handshake: one v1 address is enough here.
mon_host = [v1:127.0.0.1:${monPort}]
public_addr = 127.0.0.1
ms_bind_msgr2 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = ${dir}/keyring
run_dir = ${dir}/run
admin_socket = ${dir}/run/$name.asok
pid_file = ${dir}/run/$name.pid
log_file = ${dir}/log/$name.log
log_to_stderr = false
err_to_stderr = true
mon_cluster_log_file = ${dir}/log/cluster.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
# radosgw creates about ten pools at first start: 8 placement groups each keeps one OSD well below its limit.
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
# Commit map changes fast: every pool radosgw creates is a new osdmap epoch, by default 1 s apart.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
mon_osd_min_down_reporters = 1
osd_memory_target = 536870912
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
[mon]
mon_data = ${dir}/mon/ceph-$id
[osd]
# Clients load the monmap (with the fsid) up front; from mon_host alone they start with fsid 0 and, without
# cephx, may send a command before the real monmap arrives: the mon then refuses it ("wrong fsid").
monmap = ${dir}/monmap
osd_data = ${dir}/osd/ceph-$id
osd_objectstore = memstore
memstore_device_bytes = ${memstoreBytes}
osd_crush_update_on_start = true
[client]
monmap = ${dir}/monmap
[client.rgw.a]
# Nagle off, as README's team registry says: with it on, radosgw sends a small answer's headers and body in two
# segments, the second waits for the ACK of the first, and the client delays that ACK by 40 ms on a kept-alive
# connection (a 4 KiB read: 43 ms against 1.6 ms).
rgw_frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw_data = ${dir}/rgw
rgw_dns_name = 127.0.0.1
rgw_thread_pool_size = 64
rgw_enable_usage_log = false
rgw_init_timeout = 120
# SSE-C over plain HTTP: the tests talk to radosgw on loopback only.
rgw_crypt_require_ssl = false
# Free deleted objects' data within seconds, not after the default 2 h: memstore keeps it in RAM.
rgw_gc_obj_min_wait = 2
rgw_gc_processor_period = 5
rgw_gc_processor_max_time = 5
`;
}
