"""The chaos cluster's network: one Linux network namespace per host on a private bridge, or plain processes.

Every name starts with `chx` and every address is in 198.18.0.0/24, benchmarking space (RFC 2544); a second run
beside it (CHAOS_NET_ID=1) uses `ch1` and 198.18.1.0/24. The bridge holds .1, where Redis, PostgreSQL, the sandbox
and the S3 server listen; each host gets its own address on its own veth. No namespace has a default route and
nothing is NATed, so no packet of a host can leave the machine. Everything made here is removed on exit, on a
signal, and (leftovers of an earlier run) at start.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass

# Two runs at once (the smoke scenario of `make test` beside a `make chaos`) each need their own names and subnet.
NET_ID = int(os.environ.get("CHAOS_NET_ID", "0"))
if not 0 <= NET_ID <= 9:
    raise SystemExit("CHAOS_NET_ID must be 0-9")
PREFIX = "chx" if NET_ID == 0 else f"ch{NET_ID}"
BRIDGE = f"{PREFIX}-br0"
SUBNET = f"198.18.{NET_ID}"
BRIDGE_ADDR = f"{SUBNET}.1"
COMMAND_TIMEOUT_S = 10


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=COMMAND_TIMEOUT_S)


def why_no_namespaces() -> str | None:
    """Why hosts cannot have namespaces here (None when they can)."""
    if os.environ.get("CHAOS_NAMESPACES") == "0":
        return "CHAOS_NAMESPACES=0"
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (apt-get install {'iproute2' if tool == 'ip' else 'iptables'})"
    probe = f"{PREFIX}-probe"
    try:
        ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"cannot create a network namespace: {getattr(exc, 'stderr', exc)}".strip()
    ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    """A machine of the cluster: a name, its address, and the prefix that runs a command on it."""

    name: str
    addr: str
    netns: str | None = None

    def wrap(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv

    def firewall(self, action: str, port: int, dest: str) -> None:
        """Add (`-A`) or delete (`-D`) a rule dropping this host's packets to `dest:port` (its own namespace only)."""
        if not self.netns:
            raise RuntimeError("cutting a host off needs network namespaces")
        rule = ["OUTPUT", "-d", dest, "-p", "tcp", "--dport", str(port), "-j", "DROP"]
        argv = ["ip", "netns", "exec", self.netns, "iptables", "-w", "5", action, *rule]
        subprocess.run(argv, capture_output=True, text=True, check=action == "-A", timeout=COMMAND_TIMEOUT_S)


class Network:
    """The bridge and one namespace per host; with `isolated=False`, plain processes on 127.0.0.1."""

    def __init__(self, isolated: bool) -> None:
        self.isolated = isolated
        self.service_addr = BRIDGE_ADDR if isolated else "127.0.0.1"
        self.hosts: dict[str, Host] = {}
        self._index = 9

    def __enter__(self) -> Network:
        if self.isolated:
            cleanup_leftovers()
            atexit.register(self.remove)
            ip("link", "add", BRIDGE, "type", "bridge")
            ip("addr", "add", f"{BRIDGE_ADDR}/24", "dev", BRIDGE)
            ip("link", "set", BRIDGE, "up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def host(self, name: str) -> Host:
        """The host called `name`, made (namespace, veth, address) the first time it is asked for."""
        if name in self.hosts:
            return self.hosts[name]
        self._index += 1
        if not self.isolated:
            host = Host(name, "127.0.0.1")
        else:
            if self._index > 250:
                raise RuntimeError("too many hosts")
            netns, outer, inner = f"{PREFIX}-{name}", f"{PREFIX}v{self._index}", f"{PREFIX}p{self._index}"
            addr = f"{SUBNET}.{self._index}"
            ip("netns", "add", netns)
            ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            ip("link", "set", outer, "master", BRIDGE)
            ip("link", "set", outer, "up")
            ip("link", "set", inner, "netns", netns)
            run = ["netns", "exec", netns, "ip"]
            ip(*run, "link", "set", "lo", "up")
            ip(*run, "link", "set", inner, "name", "eth0")
            ip(*run, "addr", "add", f"{addr}/24", "dev", "eth0")
            ip(*run, "link", "set", "eth0", "up")  # only the bridge's /24 is routed: no default route, no way out
            host = Host(name, addr, netns)
        self.hosts[name] = host
        return host

    def remove(self) -> None:
        if self.isolated:
            cleanup_leftovers()
            self.hosts.clear()


def cleanup_leftovers() -> None:
    """Delete every `chx` namespace (its processes, veths and iptables rules with it) and the bridge."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        listed = ip("netns", "list", check=False).stdout.split("\n")
        for line in listed:
            name = line.split(" ")[0].strip()
            if not name.startswith(f"{PREFIX}-"):
                continue
            # Only this harness puts processes in its namespaces: end them, or the namespace outlives its name.
            pids = ip("netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
                    os.kill(int(pid), 9)
            ip("netns", "del", name, check=False)
        links = ip("-o", "link", "show", check=False).stdout.splitlines()
        for line in links:
            parts = line.split(":")
            if len(parts) > 1:
                link = parts[1].strip().split("@")[0]
                if link.startswith(PREFIX):
                    ip("link", "del", link, check=False)
