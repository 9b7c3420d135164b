"""A small application whose heap the heap tests take apart."""
