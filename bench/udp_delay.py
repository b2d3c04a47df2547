#!/usr/bin/python3
"""bench/udp_delay.py - a UDP proxy on 127.0.0.1 that holds every datagram for a one-way
delay in each direction (the machine has no sch_netem; bench/shaped.py's proxies carry
TCP only). For uTP over a delayed link in bench/transport.sh (DELAY_MS).

  bench/udp_delay.py LISTEN_PORT TARGET_PORT DELAY_MS

Each client address gets a socket of its own towards 127.0.0.1:TARGET_PORT, so the target
sees one peer per client. Prints "READY" once bound. Loopback only; runs until killed.
"""
import asyncio
import sys

IP = "127.0.0.1"


class Back(asyncio.DatagramProtocol):
    """target -> proxy socket of one client: send back to the client, delayed."""

    def __init__(self, front, client, delay):
        self.front, self.client, self.delay = front, client, delay

    def datagram_received(self, data, _addr):
        loop = asyncio.get_running_loop()
        loop.call_later(self.delay, self.front.sendto, data, self.client)


class Front(asyncio.DatagramProtocol):
    def __init__(self, target, delay):
        self.target, self.delay, self.backs, self.transport = target, delay, {}, None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, client):
        loop = asyncio.get_running_loop()
        back = self.backs.get(client)
        if back is None:
            back = asyncio.ensure_future(loop.create_datagram_endpoint(
                lambda: Back(self.transport, client, self.delay), local_addr=(IP, 0)))
            self.backs[client] = back

        def send():
            if back.done() and not back.cancelled() and back.exception() is None:
                back.result()[0].sendto(data, self.target)
            elif not back.done():
                back.add_done_callback(lambda f: f.exception() is None and f.result()[0].sendto(data, self.target))

        loop.call_later(self.delay, send)

    def error_received(self, _exc):
        pass


async def main():
    port, target, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Front((IP, target), delay_ms / 1000.0), local_addr=(IP, port))
    print("READY", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
