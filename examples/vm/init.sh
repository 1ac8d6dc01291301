#!/bin/sh
# /init of the bngkit test VM. Runs one scenario named on the kernel command line and
# reports on the serial console, one line per fact:
#   BNG-VM: READY if=eth0 mac=..      the NIC is up, the scenario starts
#   BNG-VM: PASS <check> <detail>     a check held
#   BNG-VM: FAIL <check> <detail>     a check failed
#   BNG-VM: DONE fails=N              then the VM powers off
# Parameters: bng.<key>=<value> (no spaces). Common: bng.scenario, bng.timeout (s, 30),
#   bng.vlan=O (the scenario runs on eth0.O, 802.1Q) or O.I (QinQ: eth0.O.I, an 802.1ad
#   S-tag O over eth0 and an 802.1Q C-tag I inside).
#   pppoe: bng.user bng.password bng.service bng.mtu (1492) bng.expect=discovery|lcp|auth|ip
#          bng.ping=1 (ping the IPCP peer over ppp0) bng.pppdopts=a,b,c
#          bng.ping_to=IP (ping IP through ppp0) bng.ping6_to=IPv6 (with pppdopts=+ipv6:
#          wait for a SLAAC address on ppp0, PASS slaac, then ping it, PASS ping6;
#          and with bng.pd=1: dhcpcd asks for a delegated prefix, PASS pd, then pings
#          from its ::1 on lo, PASS pingpd)
#          bng.ip6only=1 (with pppdopts=noip,+ipv6: the ip stage is IPv6CP, PASS ipv6cp
#          once ppp0 has its link-local address; no IPv4 on ppp0)
#          bng.hold=1 (stay up until the AC
#          terminates the session: PASS terminated on LCP TermReq or PADT)
#   pppoe-many: bng.count pppd sessions at once on $IF (units ppp0..), same user:
#          PASS started t=..., then PASS all-up t=... n=... once every one has IPCP up
#   dhcp:  busybox udhcpc on $IF (bng.vlan for a tagged one): PASS lease (the address as a
#          /32, the router on-link and the default route through it), then
#          bng.ping_to=IP (PASS pingto)
#   esp:   bng.mode=tunnel|transport bng.local=IP/LEN bng.remote=IP bng.spi_out bng.spi_in
#          bng.key_out bng.key_in (rfc4106 keymat incl. salt) bng.icv (128)
#          bng.inner_local bng.inner_net (tunnel) bng.count (3)
#          bng.encap=udp (RFC 3948 NAT-T framing on port 4500; the VM can only send it)
#          bng.expect=roundtrip|out (out: only check that ESP left, as esp-encrypt)
export PATH=/sbin:/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /run; mount -t tmpfs tmp /tmp
exec </dev/console >/dev/console 2>&1
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^bng\.$1=//p" | tail -1; }
fails=0
pass() { echo "BNG-VM: PASS $*"; }
fail() { echo "BNG-VM: FAIL $*"; fails=$((fails + 1)); }
done_() { echo "BNG-VM: DONE fails=$fails"; sync; poweroff -f; }
now() { cut -d' ' -f1 /proc/uptime; }
echo 1 > /proc/sys/kernel/printk
for m in $(cat /etc/modules); do insmod "/lib/modules/$m" 2>/dev/null; done
/sbin/ip link set lo up
IF=eth0
echo 1 > /proc/sys/net/ipv6/conf/$IF/disable_ipv6 2>/dev/null
/sbin/ip link set $IF up || { fail boot "no $IF"; done_; }
n=0; while [ "$(cat /sys/class/net/$IF/carrier 2>/dev/null)" != 1 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
V=$(arg vlan)
if [ -n "$V" ]; then
    O=${V%%.*}; I=${V#*.}
    if [ "$I" = "$V" ]; then
        /sbin/ip link add link $IF name $IF.$O type vlan id "$O"
    else
        /sbin/ip link add link $IF name $IF.$O type vlan proto 802.1ad id "$O" &&
        /sbin/ip link set $IF.$O up &&
        /sbin/ip link add link $IF.$O name $IF.$O.$I type vlan id "$I"
    fi || { fail vlan "cannot make $IF.$V"; done_; }
    IF=$IF.$V
    echo 1 > /proc/sys/net/ipv6/conf/$IF/disable_ipv6 2>/dev/null
    /sbin/ip link set $IF up || { fail vlan "no $IF"; done_; }
fi
TMO=$(arg timeout); TMO=${TMO:-30}
SC=$(arg scenario)
echo "BNG-VM: READY scenario=$SC if=$IF mac=$(cat /sys/class/net/$IF/address) uptime=$(now)"
deadline=$(( $(cut -d. -f1 /proc/uptime) + TMO ))
before_deadline() { [ "$(cut -d. -f1 /proc/uptime)" -lt $deadline ]; }

case "$SC" in
pppoe)
    MTU=$(arg mtu); MTU=${MTU:-1492}; EXPECT=$(arg expect); EXPECT=${EXPECT:-ip}
    set -- plugin pppoe.so $IF nodetach debug noauth noipdefault nodefaultroute \
        user "$(arg user)" password "$(arg password)" mtu $MTU mru $MTU \
        noccp novj nodeflate nobsdcomp maxfail 1 lcp-echo-interval 5 lcp-echo-failure 3
    S=$(arg service); [ -n "$S" ] && set -- "$@" rp_pppoe_service "$S"
    pppd "$@" $(arg pppdopts | tr ',' ' ') > /tmp/pppd.log 2>&1 &
    PID=$!
    got=""
    while before_deadline; do
        case $got in
        "") grep -q 'PPP session is' /tmp/pppd.log && { got=discovery; pass discovery "t=$(now)"; } ;;
        discovery) grep -q 'rcvd \[LCP ConfAck' /tmp/pppd.log && { got=lcp; pass lcp "t=$(now)"; } ;;
        lcp) grep -qE '(PAP|CHAP) authentication succeeded' /tmp/pppd.log && { got=auth; pass auth "t=$(now)"; } ;;
        auth) if [ "$(arg ip6only)" = 1 ]; then
                /sbin/ip -6 addr show dev ppp0 scope link 2>/dev/null | grep -q inet6 && { got=ip; pass ipv6cp "t=$(now) $(/sbin/ip -6 -o addr show dev ppp0 scope link | awk '{print $4}')"; }
            else
                /sbin/ip -4 addr show dev ppp0 2>/dev/null | grep -q inet && { got=ip; pass ipcp "t=$(now) $(/sbin/ip -4 -o addr show dev ppp0 | awk '{print $4,$5,$6}')"; }
            fi ;;
        esac
        [ "$got" = "$EXPECT" ] && break
        grep -qE '(PAP|CHAP) authentication failed' /tmp/pppd.log && { fail auth "rejected t=$(now)"; break; }
        kill -0 $PID 2>/dev/null || break
        sleep 0.2
    done
    [ "$got" = "$EXPECT" ] || fail "$EXPECT" "reached '${got:-nothing}'"
    if [ "$got" = ip ] && [ "$(arg ping)" = 1 ]; then
        PEER=$(/sbin/ip -4 -o addr show dev ppp0 | sed -n 's/.* peer \([0-9.]*\).*/\1/p')
        if ping -c 3 -W 2 "$PEER" > /tmp/ping.log 2>&1; then pass ping "$PEER"; else fail ping "$PEER"; fi
        sed 's/^/ping: /' /tmp/ping.log
    fi
    PT=$(arg ping_to)
    if [ "$got" = ip ] && [ -n "$PT" ]; then
        /sbin/ip route add "$PT" dev ppp0 2>/dev/null
        if ping -c 3 -W 2 "$PT" > /tmp/pingto.log 2>&1; then pass pingto "$PT"; else fail pingto "$PT"; fi
        sed 's/^/pingto: /' /tmp/pingto.log
    fi
    P6=$(arg ping6_to)
    if [ "$got" = ip ] && [ -n "$P6" ]; then
        # IPv6 over ppp0 (pppd +ipv6): the kernel takes the AC's Router Advertisement
        # (SLAAC, RFC 4862) and pings P6 from the address it formed
        A6=""; n=0
        while [ $n -lt 100 ] && before_deadline; do
            A6=$(/sbin/ip -6 -o addr show dev ppp0 scope global -tentative 2>/dev/null | awk '{print $4}' | head -1)
            [ -n "$A6" ] && break
            sleep 0.2; n=$((n + 1))
        done
        if [ -n "$A6" ]; then pass slaac "t=$(now) $A6 $(/sbin/ip -6 route show default | head -1 | tr ' ' '_')"
        else fail slaac "t=$(now) no global address on ppp0"; fi
        if [ -n "$A6" ] && ping -6 -c 3 -W 2 "$P6" > /tmp/ping6.log 2>&1; then pass ping6 "$P6"; else fail ping6 "$P6"; fi
        sed 's/^/ping6: /' /tmp/ping6.log 2>/dev/null
        /sbin/ip -6 addr show dev ppp0 | sed 's/^/ip6: /'
        /sbin/ip -6 route show | sed 's/^/route6: /'
    fi
    if [ "$got" = ip ] && [ -n "$P6" ] && [ "$(arg pd)" = 1 ]; then
        # DHCPv6 prefix delegation over ppp0 (RFC 8415 IA_PD): dhcpcd asks at once
        # (noipv6rs), the delegated prefix's ::1 goes on lo and pings P6 from there
        mkdir -p /var/lib/dhcpcd /run/dhcpcd
        printf 'ipv6only\nnoipv6rs\npersistent\nia_pd 1\n' > /tmp/dhcpcd.conf
        timeout 30 dhcpcd -6 -1 -B -d -t 20 -f /tmp/dhcpcd.conf -c /bin/true ppp0 > /tmp/dhcpcd.log 2>&1
        PFX=$(sed -n 's/.*delegated prefix \([0-9a-f:]*\/[0-9]*\).*/\1/p' /tmp/dhcpcd.log | head -1)
        if [ -n "$PFX" ]; then
            pass pd "t=$(now) $PFX"
            A=${PFX%/*}1
            /sbin/ip -6 addr add "$A/128" dev lo
            if ping -6 -c 3 -W 2 -I "$A" "$P6" > /tmp/pingpd.log 2>&1; then pass pingpd "$A"; else fail pingpd "$A"; fi
            sed 's/^/pingpd: /' /tmp/pingpd.log
        else fail pd "t=$(now) no delegated prefix"; fi
        sed 's/^/dhcpcd: /' /tmp/dhcpcd.log
    fi
    if [ "$got" = ip ] && [ "$(arg hold)" = 1 ]; then
        # stay up until the AC ends the session (LCP Terminate-Request / PADT)
        echo "BNG-VM: HOLD t=$(now)"
        while before_deadline && kill -0 $PID 2>/dev/null; do sleep 0.2; done
        if kill -0 $PID 2>/dev/null; then fail terminated "session still up t=$(now)"
        elif grep -qE 'rcvd \[LCP TermReq|PADT' /tmp/pppd.log; then pass terminated "t=$(now)"
        else fail terminated "pppd exited without TermReq/PADT"; fi
    fi
    kill $PID 2>/dev/null; n=0; while kill -0 $PID 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
    kill -9 $PID 2>/dev/null
    sed 's/^/pppd: /' /tmp/pppd.log
    ;;
pppoe-many)
    N=$(arg count); N=${N:-10}
    pass started "t=$(now) n=$N"
    i=0; PIDS=""
    while [ $i -lt "$N" ]; do
        pppd plugin pppoe.so $IF nodetach noauth noipdefault nodefaultroute unit $i \
            user "$(arg user)" password "$(arg password)" mtu 1492 mru 1492 \
            noccp novj nodeflate nobsdcomp maxfail 1 > /tmp/pppd$i.log 2>&1 &
        PIDS="$PIDS $!"; i=$((i + 1))
    done
    up=0
    while before_deadline; do
        up=$(/sbin/ip -4 -o addr show | grep -c ' ppp')
        [ "$up" -ge "$N" ] && break
        sleep 0.1
    done
    if [ "$up" -ge "$N" ]; then pass all-up "t=$(now) n=$up"; else fail all-up "t=$(now) n=$up"; fi
    kill $PIDS 2>/dev/null; sleep 1; kill -9 $PIDS 2>/dev/null
    ;;
dhcp)
    cat > /tmp/udhcpc.sh <<'EOS'
#!/bin/sh
case "$1" in
bound|renew)
    /sbin/ip addr replace "$ip/32" dev "$interface"
    G=${router%% *}
    [ -n "$G" ] && /sbin/ip route replace "$G" dev "$interface" && /sbin/ip route replace default via "$G"
    echo "$ip" > /tmp/lease ;;
esac
exit 0
EOS
    chmod 755 /tmp/udhcpc.sh
    if udhcpc -i $IF -n -q -t 5 -T 2 -s /tmp/udhcpc.sh > /tmp/udhcpc.log 2>&1; then
        pass lease "t=$(now) $(cat /tmp/lease)"
    else
        fail lease "t=$(now)"
    fi
    sed 's/^/udhcpc: /' /tmp/udhcpc.log
    PT=$(arg ping_to)
    if [ -s /tmp/lease ] && [ -n "$PT" ]; then
        if ping -c 3 -W 2 "$PT" > /tmp/pingto.log 2>&1; then pass pingto "$PT"; else fail pingto "$PT"; fi
        sed 's/^/pingto: /' /tmp/pingto.log
    fi
    ;;
esp)
    MODE=$(arg mode); MODE=${MODE:-tunnel}
    LOC=$(arg local); LOC=${LOC:-192.0.2.2/24}; REM=$(arg remote); REM=${REM:-192.0.2.1}
    SO=$(arg spi_out); SO=${SO:-0x100}; SI=$(arg spi_in); SI=${SI:-0x200}
    ICV=$(arg icv); ICV=${ICV:-128}; CNT=$(arg count); CNT=${CNT:-3}
    IL=$(arg inner_local); IL=${IL:-198.51.100.2}; INET=$(arg inner_net); INET=${INET:-203.0.113.0/24}
    IR=$(arg inner_remote); IR=${IR:-203.0.113.1}
    L=${LOC%/*}
    /sbin/ip addr add "$LOC" dev $IF
    if [ "$MODE" = transport ]; then SRC=$L; DST=$REM; PS=$L/32; PD=$REM/32
    else SRC=$IL; DST=$IR; PS=$IL/32; PD=$INET
        /sbin/ip addr add "$IL/32" dev lo; /sbin/ip route add "$INET" via "$REM" dev $IF src "$IL"; fi
    A="aead rfc4106(gcm(aes))"
    E=""; [ "$(arg encap)" = udp ] && E="encap espinudp 4500 4500 0.0.0.0"
    EXPECT=$(arg expect); EXPECT=${EXPECT:-roundtrip}
    /sbin/ip xfrm state add src "$L" dst "$REM" proto esp spi "$SO" reqid 1 mode "$MODE" $A "$(arg key_out)" "$ICV" $E &&
    /sbin/ip xfrm state add src "$REM" dst "$L" proto esp spi "$SI" reqid 1 mode "$MODE" $A "$(arg key_in)" "$ICV" $E &&
    /sbin/ip xfrm policy add src "$PS" dst "$PD" dir out tmpl src "$L" dst "$REM" proto esp reqid 1 mode "$MODE" &&
    /sbin/ip xfrm policy add src "$PD" dst "$PS" dir in tmpl src "$REM" dst "$L" proto esp reqid 1 mode "$MODE" &&
        pass esp-config "t=$(now)" || fail esp-config "ip xfrm refused"
    ping -c "$CNT" -W 2 -I "$SRC" "$DST" > /tmp/ping.log 2>&1; prc=$?
    sed 's/^/ping: /' /tmp/ping.log
    outp=$(/sbin/ip -s xfrm state get src "$L" dst "$REM" proto esp spi "$SO" | sed -n 's/.*(bytes), \([0-9]*\)(packets).*/\1/p' | head -1)
    [ "${outp:-0}" -gt 0 ] && pass esp-encrypt "out_packets=$outp" || fail esp-encrypt "out_packets=${outp:-?}"
    if [ "$EXPECT" = roundtrip ]; then
        [ $prc = 0 ] && pass esp-ping "$DST" || fail esp-ping "$DST"
    fi
    /sbin/ip -s xfrm state | sed 's/^/xfrm: /'
    ;;
*) fail scenario "unknown '$SC'" ;;
esac
done_
