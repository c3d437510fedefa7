"""A WebSocket client that stops reading, for the fault suite's slow-consumer scenario.

Node cannot shrink a TCP socket's receive buffer, and on this kernel loopback autotuning lets a
paused reader absorb tens of MB before the server notices anything. This client sets SO_RCVBUF to
4 KiB before connecting, sends `hello` (argv: host port token device_id), reads the `welcome`,
then never reads again. Each line on stdin is sent as one text frame; when a send fails (the
server dropped the connection) it prints `closed <error>` and exits.
"""
import base64
import os
import socket
import struct
import sys


def frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack('!H', n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def main() -> None:
    host, port, token, device = sys.argv[1:5]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(f'GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
              f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n'.encode())
    head = b''
    while b'\r\n\r\n' not in head:
        head += s.recv(1)
    if b' 101 ' not in head.split(b'\r\n')[0]:
        print(f'refused {head.splitlines()[0].decode()}', flush=True)
        return
    s.sendall(frame('{"requestId":"1","hello":{"token":"%s","deviceId":"%s"}}' % (token, device)))
    s.recv(4096)  # the welcome; nothing is read after it
    print('welcome', flush=True)
    for line in sys.stdin:
        try:
            s.sendall(frame(line.strip()))
        except OSError as err:
            print(f'closed {err}', flush=True)
            return
    print('stdin closed', flush=True)


main()
