"""Resource watchers: file descriptors and sockets, threads, PostgreSQL backends, Redis clients."""
