#!/bin/sh
# gen.sh writes tshark.tsv: tshark's dissection of the captures listed in
# captures.txt (see README.md). Run it in this folder.
set -e
traces=../../../../shared/traces
while read -r capture filter; do
  path=$traces/$capture
  [ "$capture" = built.pcap ] && path=built.pcap
  tshark -r "$path" ${filter:+-Y "$filter"} -T fields -E separator=/t -E occurrence=a -E aggregator=, \
    -e frame.number -e frame.protocols \
    -e ip.src -e ip.dst -e ip.proto -e ip.ttl -e ipv6.src -e ipv6.dst -e ipv6.hlim \
    -e tcp.srcport -e tcp.dstport -e tcp.seq_raw -e tcp.ack_raw -e tcp.window_size_value -e tcp.len \
    -e udp.srcport -e udp.dstport \
    -e gre.key -e gre.key.call_id -e erspan.spanid -e vxlan.vni -e geneve.vni -e gtp.teid -e mpls.label \
    2>/dev/null | sed "s|^|$capture\t|"
done < captures.txt > tshark.tsv
