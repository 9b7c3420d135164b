"""Values: frozen dataclasses and their versioned (de)serialisation."""
