"""Load drivers: transports that turn one request into one outcome. They know nothing of
memory (DESIGN.md, "Load drivers are transports")."""
