"""The model layer: what a model source is, how it loads, and how it runs on probes.

- :mod:`~seedprints.model.sources`: model source formats (safetensors directory, GGUF file, PEFT adapter) and
  their checks before anything loads;
- :mod:`~seedprints.model.config` and :mod:`~seedprints.model.tokenizer`: a model's config and tokenizer files;
- :mod:`~seedprints.model.fit`: whether a model can take a probe spec, from its config alone;
- :mod:`~seedprints.model.load` (with :mod:`~seedprints.model.loaded`, :mod:`~seedprints.model.device`,
  :mod:`~seedprints.model.hf`): loading, offline, onto a device;
- :mod:`~seedprints.model.forward` (with :mod:`~seedprints.model.fastpath`): the forward pass that makes a
  fingerprint's rows;
- :mod:`~seedprints.model.metadata`: what a fingerprint header records about the model.

Importing this package is cheap; its modules import torch and transformers.
"""
