"""Serves the current directory over HTTPS, like `python3 -m http.server` does over HTTP, with
the given certificate and key (a self-signed pair made by the openssl CLI in the tests). Prints
the port it listens on (useful with port 0), then serves until killed.

    python3 https_server.py PORT CERT KEY [BIND]
"""

import http.server
import ssl
import sys


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    bind = sys.argv[4] if len(sys.argv) > 4 else ""
    server = http.server.ThreadingHTTPServer((bind, port), http.server.SimpleHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # The handshake happens in the request's thread, so a client that never completes one (a
    # plain HTTP or TCP probe) does not hold up the others.
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
