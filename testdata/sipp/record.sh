#!/usr/bin/env bash
# Regenerates the sipp recordings in testdata/captures (sipp-*.pcap, sipp-*.pcapng)
# from the committed input pcaps (in-*.pcap, written by
# `go test ./media/mediatest -run TestGenerateCaptures -update`) and the scenario
# templates uac.xml.in / uas.xml.in in this folder.
#
# Each recording is one or two calls between two sipp processes on loopback: a UAS
# that answers and swallows RTP on its media port, and a UAC that after the 200 OK
# and ACK replays an input pcap with play_pcap_audio (headers unchanged: payload
# types, SSRC, sequence numbers and timestamps are the input's), then hangs up.
# dumpcap records SIP and RTP on lo while the calls run.
#
# Needs root (play_pcap_audio uses a raw socket), sipp (sip-tester) and dumpcap
# (tshark). Everything stays on 127.0.0.1 / ::1 and is bounded: every sipp runs
# with -m <calls> -timeout 15s under `timeout 20`, dumpcap with -a duration:30.
#
#   bash testdata/sipp/record.sh            # all recordings
#   bash testdata/sipp/record.sh two-calls  # those whose name contains "two-calls"
#
# Environment: SIP_BASE (default 25060) and MEDIA_BASE (default 26000) pick the
# ports: UAS SIP on SIP_BASE, UAC n on SIP_BASE+2+2n; UAS media on MEDIA_BASE,
# UAC n media on MEDIA_BASE+4+4n.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/../captures" && pwd)
only=${1:-}
SIP_BASE=${SIP_BASE:-25060}
MEDIA_BASE=${MEDIA_BASE:-26000}
PAUSE_MS=${PAUSE_MS:-2000} # the UAC hangs up this long after starting playback

[ "$(id -u)" -eq 0 ] || { echo "record.sh: run as root (play_pcap_audio needs a raw socket)" >&2; exit 1; }
for tool in sipp dumpcap tshark; do
	command -v "$tool" >/dev/null || { echo "record.sh: $tool is not on PATH" >&2; exit 1; }
done

work=$(mktemp -d)
dump_pid=""
cleanup() {
	if [ -n "$dump_pid" ]; then kill -INT "$dump_pid" 2>/dev/null || true; wait "$dump_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

# render TEMPLATE OUT PCAP AUDIO_PT EVENT_PT
render() {
	local name=PCMU
	[ "$4" = 8 ] && name=PCMA
	sed -e "s#@AUDIO_PT@#$4#g" -e "s#@AUDIO_NAME@#$name#g" -e "s#@EVENT_PT@#$5#g" \
		-e "s#@PCAP@#$3#g" -e "s#@PAUSE_MS@#$PAUSE_MS#g" "$here/$1" >"$2"
}

# record OUT FORMAT(pcap|pcapng) IP AUDIO_PT EVENT_PT INPUT...
# One call per INPUT, started one second apart, all answered by one UAS.
record() {
	local file=$1 format=$2 ip=$3 apt=$4 ept=$5
	shift 5
	if [ -n "$only" ] && [[ "$file" != *"$only"* ]]; then return; fi
	local calls=$# remote=$ip
	[[ "$ip" == *:* ]] && remote="[$ip]"
	echo "== $file: $calls call(s) over $ip, audio PT $apt, telephone-event PT $ept: $*"

	local filter="udp portrange $SIP_BASE-$((SIP_BASE + 9)) or udp portrange $MEDIA_BASE-$((MEDIA_BASE + 19))"
	local fmtflag=()
	[ "$format" = pcap ] && fmtflag=(-P)
	rm -f "$work/rec"
	dumpcap -q -i lo -f "$filter" "${fmtflag[@]}" -a duration:30 -w "$work/rec" 2>"$work/dumpcap.log" &
	dump_pid=$!
	for _ in $(seq 50); do [ -s "$work/rec" ] && break; sleep 0.1; done
	sleep 0.5

	render uas.xml.in "$work/uas.xml" none "$apt" "$ept"
	timeout 20 sipp -sf "$work/uas.xml" -i "$ip" -p "$SIP_BASE" -mi "$ip" -mp "$MEDIA_BASE" \
		-m "$calls" -timeout 15s -nostdin -trace_err -error_file "$work/uas.err" >"$work/uas.out" 2>&1 &
	local uas_pid=$! pids=() n=0
	sleep 0.3
	for input in "$@"; do
		render uac.xml.in "$work/uac$n.xml" "$input" "$apt" "$ept"
		timeout 20 sipp -sf "$work/uac$n.xml" -i "$ip" -p $((SIP_BASE + 2 + 2 * n)) \
			-mi "$ip" -mp $((MEDIA_BASE + 4 + 4 * n)) -m 1 -timeout 15s -s 1000 "$remote:$SIP_BASE" \
			-nostdin -trace_err -error_file "$work/uac$n.err" >"$work/uac$n.out" 2>&1 &
		pids+=($!)
		n=$((n + 1))
		[ "$n" -lt "$calls" ] && sleep 1
	done
	local rc=0
	for p in "${pids[@]}" "$uas_pid"; do wait "$p" || rc=$?; done
	sleep 0.3
	kill -INT "$dump_pid"
	wait "$dump_pid" || true
	dump_pid=""
	if [ "$rc" -ne 0 ]; then
		echo "record.sh: sipp failed (exit $rc) for $file" >&2
		tail -n 5 "$work"/*.out "$work"/*.err >&2 2>/dev/null || true
		exit 1
	fi
	cp "$work/rec" "$out/$file"
	chmod 644 "$out/$file"
	echo "   $(tshark -r "$out/$file" 2>/dev/null | wc -l) packets -> $out/$file"
}

in=$here
record sipp-rfc4733-hash.pcap pcap 127.0.0.1 0 101 "$in/in-rfc4733-hash.pcap"
record sipp-inband-star-hash.pcap pcap 127.0.0.1 0 101 "$in/in-inband-star-hash.pcap"
record sipp-pcma-inband.pcap pcap 127.0.0.1 8 101 "$in/in-pcma-inband.pcap"
record sipp-pt96-events.pcap pcap 127.0.0.1 0 96 "$in/in-pt96-events.pcap"
record sipp-both-ways.pcap pcap 127.0.0.1 0 101 "$in/in-both-ways.pcap"
record sipp-two-calls.pcap pcap 127.0.0.1 0 101 "$in/in-call-a.pcap" "$in/in-call-b.pcap"
record sipp-ipv6.pcapng pcapng ::1 0 101 "$in/in-ipv6.pcap"
# pcapng under a .pcap name: readers must sniff the format by its first bytes.
record sipp-pcapng-named.pcap pcapng 127.0.0.1 0 101 "$in/in-rfc4733-hash.pcap"
# sipp's own file: PT 101, telephone-events only, END 3x under one sequence number.
if [ -f /usr/share/sip-tester/dtmf_2833_1.pcap ]; then
	record sipp-shipped-dtmf-2833-1.pcap pcap 127.0.0.1 0 101 /usr/share/sip-tester/dtmf_2833_1.pcap
fi
