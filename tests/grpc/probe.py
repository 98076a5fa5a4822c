"""A gRPC probe for the contract tests: the real gRPC stack (grpcio, the C
core) speaking Nacos payloads, driven by JSON lines on stdin.

One process is one channel, so one TCP connection (one Nacos connection):
its unary calls and its bi-stream share it, as the Nacos clients' do.

Commands (one JSON object per line), each answered by one JSON line:
  {"op":"unary","type":T,"body":{..},"headers":{..},"client_ip":IP}
      -> {"type":T,"body":{..}} or {"status":CODE,"details":TEXT}
  {"op":"method","path":P}   (a call to another method) -> {"status":..} or {"type":..}
  {"op":"raw","bytes_hex":H} (a unary call whose message is H) -> as unary
  {"op":"open","body":{..},"client_ip":IP}  open the bi-stream with a
      ConnectionSetupRequest -> {"ok":true}
  {"op":"send","type":T,"body":{..}}  send on the bi-stream -> {"ok":true}
  {"op":"recv","timeout":S}  the next message the server sent on the
      bi-stream -> {"type":..,"body":..} or {"timeout":true} or
      {"ended":CODE,"details":TEXT}
  {"op":"end"}  end our half of the bi-stream -> {"ok":true}
  {"op":"close"}  close the channel -> {"ok":true}
Arguments: ADDR [CA_PEM [CERT_PEM KEY_PEM]]: with a CA file the channel is
TLS (the server's certificate checked against that CA), with a certificate
and key too it presents them (mutual TLS).
Payloads are encoded by hand (the envelope has three small messages).
"""
import json
import queue
import sys
import threading

import grpc


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def ld(tag, data):
    return varint(tag << 3 | 2) + varint(len(data)) + data


def payload(type_name, body, headers=None, client_ip=None):
    meta = ld(3, type_name.encode())
    for k, v in (headers or {}).items():
        meta += ld(7, ld(1, k.encode()) + ld(2, v.encode()))
    if client_ip:
        meta += ld(8, client_ip.encode())
    return ld(2, meta) + ld(3, ld(2, json.dumps(body).encode()))


def read_varint(b, i):
    n = s = 0
    while True:
        x = b[i]
        i += 1
        n |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return n, i


def fields(b):
    i, out = 0, {}
    while i < len(b):
        k, i = read_varint(b, i)
        if k & 7 == 2:
            n, i = read_varint(b, i)
            out.setdefault(k >> 3, []).append(b[i : i + n])
            i += n
        elif k & 7 == 0:
            v, i = read_varint(b, i)
            out.setdefault(k >> 3, []).append(v)
        else:
            raise ValueError("wire type %d" % (k & 7))
    return out


def parse(p):
    f = fields(p)
    meta = fields(f.get(2, [b""])[0])
    body = fields(f.get(3, [b""])[0])
    value = body.get(2, [b"{}"])[0]
    return {"type": meta.get(3, [b""])[0].decode(), "body": json.loads(value or b"{}")}


def ident(x):
    return x


def main():
    target = sys.argv[1]
    options = [("grpc.max_receive_message_length", 64 << 20)]
    if len(sys.argv) > 2:
        def read(path):
            with open(path, "rb") as f:
                return f.read()

        mine = sys.argv[3:5]
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(sys.argv[2]),
            private_key=read(mine[1]) if mine else None,
            certificate_chain=read(mine[0]) if mine else None,
        )
        channel = grpc.secure_channel(target, creds, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    unary = channel.unary_unary("/Request/request", request_serializer=ident, response_deserializer=ident)
    bi_method = channel.stream_stream(
        "/BiRequestStream/requestBiStream", request_serializer=ident, response_deserializer=ident
    )
    outbox = queue.Queue()
    inbox = queue.Queue()

    def outgoing():
        while True:
            item = outbox.get()
            if item is None:
                return
            yield item

    def reader(call):
        try:
            for m in call:
                inbox.put(parse(m))
            inbox.put({"ended": 0, "details": ""})
        except grpc.RpcError as e:
            inbox.put({"ended": e.code().value[0], "details": e.details() or ""})

    def call_unary(method, message):
        try:
            return parse(method(message, timeout=10))
        except grpc.RpcError as e:
            return {"status": e.code().value[0], "details": e.details() or ""}

    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "unary":
            msg = payload(cmd["type"], cmd.get("body", {}), cmd.get("headers"), cmd.get("client_ip"))
            out = call_unary(unary, msg)
        elif op == "raw":
            out = call_unary(unary, bytes.fromhex(cmd["bytes_hex"]))
        elif op == "method":
            other = channel.unary_unary(cmd["path"], request_serializer=ident, response_deserializer=ident)
            out = call_unary(other, payload("ServerCheckRequest", {}))
        elif op == "open":
            call = bi_method(outgoing())
            threading.Thread(target=reader, args=(call,), daemon=True).start()
            outbox.put(payload("ConnectionSetupRequest", cmd.get("body", {}), None, cmd.get("client_ip")))
            out = {"ok": True}
        elif op == "send":
            outbox.put(payload(cmd["type"], cmd.get("body", {})))
            out = {"ok": True}
        elif op == "recv":
            try:
                out = inbox.get(timeout=cmd.get("timeout", 10))
            except queue.Empty:
                out = {"timeout": True}
        elif op == "end":
            outbox.put(None)
            out = {"ok": True}
        elif op == "close":
            outbox.put(None)
            channel.close()
            out = {"ok": True}
        else:
            out = {"error": "unknown op " + op}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
