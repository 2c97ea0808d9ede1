"""Raw HTTP over a unix socket, for requests no well-behaved client would send."""

import json
import socket


def raw_request(path, data, shut=True, timeout=5):
    """Send bytes to the socket at `path`, read the whole answer: (status, head, JSON body)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), json.loads(body)
