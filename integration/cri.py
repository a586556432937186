#!/usr/bin/python3
"""A minimal CRI (runtime.v1) client, the part of crictl that
integration/containerd.sh needs: Debian 12 ships no crictl.

Messages are encoded by hand (protobuf wire format: only strings, varints and
nested messages are needed); transport is Debian's python3-grpcio.

usage: cri.py SOCKET COMMAND ARGS...
  runp NAME HANDLER LOGDIR [KEY=VALUE...]     -> prints the pod sandbox id
  create SANDBOX NAME LOGDIR IMAGE LOGFILE [KEY=VALUE...] -- CMD...
                                              (NAME, LOGDIR, KEY=VALUE: the pod's, as for runp)
                                              -> prints the container id
  start CID
  exec CID TIMEOUT -- CMD...                  -> prints stdout; stderr to stderr;
                                                 exits with the command's status
  status CID                                  -> prints "STATE EXITCODE"
  stopc CID | rmc CID | stopp SANDBOX | rmp SANDBOX
"""
import os
import sys

import grpc

SERVICE = "/runtime.v1.RuntimeService/"


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def f_int(num, n):
    return varint(num << 3 | 0) + varint(n)


def f_map(num, d):
    return b"".join(f_bytes(num, f_bytes(1, k) + f_bytes(2, v)) for k, v in d.items())


def decode(data):
    """-> {field number: [values]} (bytes for length-delimited, int for varint)"""
    out, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(data, i)
        elif wt == 2:
            ln, i = _read_varint(data, i)
            v, i = data[i:i + ln], i + ln
        elif wt == 1:
            v, i = data[i:i + 8], i + 8
        elif wt == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def _read_varint(data, i):
    shift = n = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def first(msg, num, default=b""):
    return msg.get(num, [default])[0]


def sandbox_config(name, logdir, annotations):
    metadata = f_bytes(1, name) + f_bytes(2, name + "-uid") + f_bytes(3, "default") + f_int(4, 0)
    # NamespaceOption: network=NODE(2) so no CNI is needed; pid, ipc = POD(0)
    ns = f_int(1, 2)
    security = f_bytes(1, ns)
    linux = f_bytes(2, security)
    # The kubelet's pod cgroup (a systemd slice with the systemd driver);
    # containerd derives each container's cgroupsPath from it.
    parent = os.environ.get("WARD_CRI_CGROUP_PARENT", "")
    if parent:
        linux = f_bytes(1, parent) + linux
    # no hostname: with the node's network the UTS namespace is the node's
    return (f_bytes(1, metadata) + f_bytes(3, logdir)
            + f_map(7, annotations) + f_bytes(8, linux))


def call(chan, method, req, timeout=60):
    fn = chan.unary_unary(SERVICE + method,
                          request_serializer=lambda b: b,
                          response_deserializer=lambda b: b)
    return decode(fn(req, timeout=timeout))


def main(argv):
    sock, cmd, args = argv[1], argv[2], argv[3:]
    chan = grpc.insecure_channel("unix://" + sock)
    if cmd == "runp":
        name, handler, logdir = args[:3]
        ann = dict(a.split("=", 1) for a in args[3:])
        r = call(chan, "RunPodSandbox",
                 f_bytes(1, sandbox_config(name, logdir, ann)) + f_bytes(2, handler), 120)
        print(first(r, 1).decode())
    elif cmd == "create":
        sid, name, logdir, image, logfile = args[:5]
        ann = dict(a.split("=", 1) for a in args[5:args.index("--")])
        argv_ = args[args.index("--") + 1:]
        cfg = (f_bytes(1, f_bytes(1, name + "-c") + f_int(2, 0))
               + f_bytes(2, f_bytes(1, image))
               + b"".join(f_bytes(3, a) for a in argv_)
               + f_bytes(11, logfile))
        r = call(chan, "CreateContainer",
                 f_bytes(1, sid) + f_bytes(2, cfg) + f_bytes(3, sandbox_config(name, logdir, ann)), 120)
        print(first(r, 1).decode())
    elif cmd == "start":
        call(chan, "StartContainer", f_bytes(1, args[0]))
    elif cmd == "exec":
        cid, timeout = args[0], int(args[1])
        argv_ = args[args.index("--") + 1:]
        r = call(chan, "ExecSync",
                 f_bytes(1, cid) + b"".join(f_bytes(2, a) for a in argv_) + f_int(3, timeout),
                 timeout + 30)
        sys.stdout.write(first(r, 1).decode(errors="replace"))
        sys.stderr.write(first(r, 2).decode(errors="replace"))
        return first(r, 3, 0)
    elif cmd == "status":
        r = call(chan, "ContainerStatus", f_bytes(1, args[0]))
        st = decode(first(r, 1))
        states = {0: "CREATED", 1: "RUNNING", 2: "EXITED", 3: "UNKNOWN"}
        print(states.get(first(st, 3, 0), "?"), first(st, 7, 0))
    elif cmd == "stopc":
        call(chan, "StopContainer", f_bytes(1, args[0]) + f_int(2, 1))
    elif cmd == "rmc":
        call(chan, "RemoveContainer", f_bytes(1, args[0]))
    elif cmd == "stopp":
        call(chan, "StopPodSandbox", f_bytes(1, args[0]))
    elif cmd == "rmp":
        call(chan, "RemovePodSandbox", f_bytes(1, args[0]))
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except grpc.RpcError as e:
        sys.stderr.write("cri: %s: %s\n" % (e.code(), e.details()))
        sys.exit(1)
