"""A zoo of small language models of known lineage, and the harness that scores lineage tests on it."""
