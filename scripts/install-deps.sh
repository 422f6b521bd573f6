#!/usr/bin/env bash
# Installs the Debian packages medtap needs to build, run its sample and run
# its tests. Idempotent and non-interactive: safe to run on every CI start.
#   libpcap-dev  - libpcap headers/library for the `pcap` crate (capture)
#   tshark       - ground truth for the integration tests (tshark comparison)
#   tcpdump      - captures real traffic inside test network namespaces
#   iproute2     - `ip netns` / veth for the live-capture test
#   python3      - traffic generators in tests (http.server)
#   curl         - a real HTTP client for the live-capture test
#   iputils-ping - ICMP traffic for the sample capture and live test
#   pkg-config   - lets the pcap crate find libpcap
#   dcmtk        - real DICOM SCU/SCP tools for the DICOM test captures
#   python3-hl7  - python-hl7 for /usr/bin/python3 (mllp_send, MLLP client/server): HL7 captures
#   mosquitto    - MQTT broker, run by the MQTT capture script in its own netns (not as a service)
#   mosquitto-clients - mosquitto_pub/_sub/_passwd: the clients of the MQTT captures
#   systemd      - systemd-analyze verify/security on the unit (tests/it/hardening.rs)
#   util-linux   - setpriv: run medtap without CAP_NET_RAW / as the service user; unshare (policy captures)
#   mount        - mount/umount a small tmpfs for the full-disk test
#   dnsmasq-base - dnsmasq binary only (no service): the DHCP server of the DHCP and identity captures
#   udhcpc       - busybox's DHCP client: host name / vendor class / hostile option bytes, renew, DECLINE
#   isc-dhcp-client - ISC dhclient: the DHCPv4/DHCPv6 client of the DHCP and identity captures
#   iputils-arping - gratuitous ARP, ARP replies and RFC 5227 probes for the ARP takeover and policy captures
#   ieee-data    - the IEEE MAC registry CSVs: ground truth of the vendor test (rules/oui.tsv is made from them)
#   openssh-client - ssh, ssh-keygen: the laptop's SSH login attempt (classification), the vendor's key login (policy)
#   dropbear-bin - dropbear SSH server binary only (no service): the NAS (classification), the pump (policy)
#                  and the SSH server of the remote-access capture
#   inetutils-telnet - telnet client of the remote-access capture (make-remote-captures.sh)
#   busybox-static - busybox with the telnetd applet (Debian's busybox has none): the telnet server
#                  of the remote-access capture; it replaces the busybox package (same version,
#                  udhcpc accepts either)
#   tigervnc-standalone-server - Xvnc: the VNC servers of the remote-access capture, and
#                  rdesktop's X display there
#   vncsnapshot  - a command-line VNC (RFB) client: the VNC client of the remote-access capture
#   rdesktop     - RDP client of the remote-access capture (on Xvnc's display)
#   xrdp         - RDP server binary (run in the capture's namespace with its own config; its
#                  service is not started): the RDP server of the remote-access capture
#   openssl      - s_server/s_client: the TLS sessions of the remote-access capture
#   rsyslog      - rsyslogd, started by the tests with their own config (never the system's
#                  service): receives medtap's syslog, tails its EVE file (imfile + mmjsonparse),
#                  forwards two sensors to one collector
#   fever        - DCSO's EVE processor: reads medtap's EVE from a unix socket (consumer test)
#   prometheus   - prometheus and promtool: scrape medtap's metrics endpoint, lint its exposition
#   tcpreplay    - replays a capture onto a test veth: the packet archive's retention and kill -9 tests
#   sqlite3      - the SQLite shell: the verify tests tamper with a database as an intruder would
# and, for the python3 on PATH, the `jsonschema` module (EVE lines against the schemas).
set -euo pipefail

# A Rust toolchain (1.89 or newer: std file locks). Debian 12's own rustc is too old for the
# dependencies, so a machine without cargo gets rustup's stable toolchain.
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl ca-certificates; }
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  echo "installed Rust with rustup; run: . \"\$HOME/.cargo/env\"" >&2
fi

packages=(libpcap-dev tshark tcpdump iproute2 python3 curl iputils-ping pkg-config dcmtk
  python3-hl7 mosquitto mosquitto-clients systemd util-linux mount dnsmasq-base udhcpc
  isc-dhcp-client iputils-arping ieee-data openssh-client dropbear-bin inetutils-telnet
  busybox-static tigervnc-standalone-server vncsnapshot rdesktop xrdp openssl rsyslog fever
  prometheus tcpreplay sqlite3)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The EVE tests validate with python's jsonschema, on whichever python3 is first on PATH.
# Debian's python3 gets Debian's package; another python3 (pyenv, a venv) gets it from pip.
if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
  if [ "$(command -v python3)" = /usr/bin/python3 ]; then
    missing+=(python3-jsonschema)
  else
    python3 -m pip install -q jsonschema
  fi
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# wireshark-common asks whether non-root users may capture; answer no.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# The tests run xrdp inside their own namespaces with their own config: an
# RDP server listening on the machine itself is not wanted (least of all on
# a sensor), so the package's service is stopped and disabled if it started.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now xrdp xrdp-sesman >/dev/null 2>&1 || true
  # The same for the system's rsyslog and prometheus (and the exporter
  # prometheus may pull in): the tests start their own, on their own ports.
  $SUDO systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
fi
