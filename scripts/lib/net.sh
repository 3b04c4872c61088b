# Network helpers shared by the project's bash scripts (source it). The JavaScript twin is
# e2e/lib/net.mjs, the Rust one gateway/tests/common: one home per concern and language.

# free_port: a TCP port on 127.0.0.1 that nobody listens on now (the kernel picks it).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
		|| node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# wait_ready HOST:PORT [SECONDS]: waits until the gateway there answers /readyz with 200
# (default 30 s); returns 1 if it never does.
wait_ready() {
	local deadline=$((SECONDS + ${2:-30}))
	until curl -fs -o /dev/null "http://$1/readyz"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}
