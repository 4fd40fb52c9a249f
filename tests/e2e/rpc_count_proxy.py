"""Counting gRPC proxy: forwards every unary call to an upstream server and
counts calls per method (and error codes), rewriting OUT_FILE every 2 s.

    python rpc_count_proxy.py LISTEN_HOST:PORT UPSTREAM_HOST:PORT OUT_FILE

Then run the suite through it: ORRERY_E2E_ADDRESS=LISTEN_HOST:PORT pytest -q
Needs `grpcio` (not in requirements.txt: optional tool). Stop it with SIGTERM.
"""
import asyncio, collections, sys, signal
import grpc

UP = sys.argv[2]; LISTEN = sys.argv[1]; OUT = sys.argv[3]
counts = collections.Counter(); codes = collections.Counter()

class Handler(grpc.GenericRpcHandler):
    def __init__(self, ch): self.ch = ch
    def service(self, details):
        method = details.method
        stub = self.ch.unary_unary(method, request_serializer=None, response_deserializer=None)
        async def fwd(req, ctx):
            counts[method.rsplit('/',1)[-1]] += 1
            md = [(k, v) for k, v in ctx.invocation_metadata() if not k.startswith(':')]
            try:
                tr = ctx.time_remaining()
                return await stub(req, metadata=md, timeout=tr if tr and tr < 1e6 else None)
            except grpc.aio.AioRpcError as e:
                codes[(method.rsplit('/',1)[-1], e.code().name)] += 1
                tmd = list(e.trailing_metadata() or [])
                if tmd: ctx.set_trailing_metadata(tmd)
                await ctx.abort(e.code(), e.details() or "")
        return grpc.unary_unary_rpc_method_handler(fwd)

def dump():
    with open(OUT, "w") as f:
        for k, v in sorted(counts.items()): f.write(f"{v:6d} {k}\n")
        f.write("-- errors --\n")
        for (m, c), v in sorted(codes.items()): f.write(f"{v:6d} {m} {c}\n")

async def main():
    ch = grpc.aio.insecure_channel(UP)
    srv = grpc.aio.server(options=[("grpc.max_receive_message_length", 64<<20)])
    srv.add_generic_rpc_handlers([Handler(ch)])
    srv.add_insecure_port(LISTEN)
    await srv.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        try: await asyncio.wait_for(stop.wait(), 2)
        except asyncio.TimeoutError: pass
        dump()
    dump()
asyncio.run(main())
